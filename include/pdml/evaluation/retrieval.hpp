// SPDX-License-Identifier: MIT
#pragma once
// Retrieval metrics of deep metric learning, computed in one blocked pass of
// the exact nearest-neighbour search (pdml/evaluation/neighbors.hpp): every
// row is a query against all other rows (self excluded).
//
//   Recall@k  fraction of queries with at least one same-label row among their
//             k nearest neighbours.
//   mAP@R     (Musgrave et al., 2020) for a query with R >= 1 other rows of its
//             label: AP@R = (1/R) sum_{r=1..R} rel(r) * precision@r, where rel(r)
//             says whether the r-th neighbour shares the label; averaged over the
//             queries with R >= 1 (queries alone in their class are skipped).
//
// Per-query results are written to per-query slots and reduced in query order
// afterwards, so the figures do not depend on the number of threads.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <unordered_map>
#include <vector>

#include "pdml/core/matrix_view.hpp"
#include "pdml/core/validate.hpp"
#include "pdml/evaluation/neighbors.hpp"

namespace pdml {

struct RetrievalOptions {
  Distance distance = Distance::cosine;
  /// The k of each Recall@k; every k must lie in [1, N - 1].
  std::vector<Index> recall_ks{1, 2, 4, 8};
  /// mAP@R needs max_c(|c| - 1) neighbours per query; switch it off to search fewer.
  bool compute_map_at_r = true;
  SearchBlocks blocks{};
};

struct RetrievalMetrics {
  std::vector<Index> recall_ks;
  std::vector<double> recall_at_k;  ///< one per k, in [0, 1]
  double map_at_r = std::numeric_limits<double>::quiet_NaN();  ///< NaN when not computed
  Index map_at_r_queries = 0;       ///< queries with R >= 1 that entered mAP@R
  /// Per row: 1 when its nearest neighbour shares its label (the event the
  /// norm-uncertainty AUROC predicts), else 0.
  std::vector<std::uint8_t> nearest_is_correct;
};

/// Recall@k, mAP@R and the per-query top-1 correctness of `embeddings` (N x D,
/// finite, N >= 2) with integer class `labels` (N of them, any values).
template <class T>
RetrievalMetrics evaluate_retrieval(ConstMatrixView<T> embeddings, const std::int64_t* labels,
                                    const RetrievalOptions& options = RetrievalOptions{}) {
  constexpr const char* fn = "pdml::evaluate_retrieval";
  detail::check_view(fn, "embeddings", embeddings);
  const Index n = embeddings.rows;
  if (n < 2) detail::throw_invalid(fn, "embeddings", "needs at least 2 rows");
  detail::check_finite(fn, "embeddings", embeddings);
  if (labels == nullptr) detail::throw_invalid(fn, "labels", "is a null pointer");
  if (options.distance != Distance::cosine && options.distance != Distance::euclidean) {
    detail::throw_invalid(fn, "options.distance", "is not a known Distance");
  }
  for (Index k : options.recall_ks) {
    if (k < 1 || k > n - 1) {
      detail::throw_invalid(fn, "options.recall_ks",
                            "has a k outside [1, N - 1] (N = rows of embeddings)");
    }
  }
  detail::check_blocks(fn, options.blocks);

  // Rows per label, for R = |class| - 1.
  std::unordered_map<std::int64_t, Index> class_size;
  for (Index i = 0; i < n; ++i) ++class_size[labels[i]];
  std::vector<Index> others_of_class(static_cast<std::size_t>(n));
  Index max_r = 0;
  for (Index i = 0; i < n; ++i) {
    others_of_class[static_cast<std::size_t>(i)] = class_size[labels[i]] - 1;
    max_r = std::max(max_r, others_of_class[static_cast<std::size_t>(i)]);
  }

  Index k_search = 1;
  for (Index k : options.recall_ks) k_search = std::max(k_search, k);
  if (options.compute_map_at_r) k_search = std::max(k_search, max_r);

  const std::size_t n_ks = options.recall_ks.size();
  std::vector<std::uint8_t> hits(static_cast<std::size_t>(n) * n_ks, 0);
  std::vector<double> average_precision(static_cast<std::size_t>(n), 0.0);
  RetrievalMetrics result;
  result.recall_ks = options.recall_ks;
  result.nearest_is_correct.assign(static_cast<std::size_t>(n), 0);

  const auto prepared = detail::prepare_points(embeddings, options.distance);
  detail::search_blocks(
      prepared, options.distance, k_search, options.blocks,
      [&](Index q0, Index nq, const Index* indices, const T*) {
        for (Index a = 0; a < nq; ++a) {
          const Index q = q0 + a;
          const std::int64_t label = labels[q];
          const Index* row = indices + a * k_search;
          // Rank of the first same-label neighbour (k_search when none).
          Index first_hit = k_search;
          for (Index r = 0; r < k_search; ++r) {
            if (labels[row[r]] == label) {
              first_hit = r;
              break;
            }
          }
          result.nearest_is_correct[static_cast<std::size_t>(q)] = first_hit == 0 ? 1 : 0;
          for (std::size_t t = 0; t < n_ks; ++t) {
            hits[static_cast<std::size_t>(q) * n_ks + t] = first_hit < options.recall_ks[t] ? 1 : 0;
          }
          if (options.compute_map_at_r) {
            const Index r_count = others_of_class[static_cast<std::size_t>(q)];
            double sum_precision = 0.0;
            Index relevant = 0;
            for (Index r = 0; r < r_count; ++r) {
              if (labels[row[r]] == label) {
                ++relevant;
                sum_precision += static_cast<double>(relevant) / static_cast<double>(r + 1);
              }
            }
            average_precision[static_cast<std::size_t>(q)] =
                r_count > 0 ? sum_precision / static_cast<double>(r_count) : 0.0;
          }
        }
      });

  result.recall_at_k.assign(n_ks, 0.0);
  for (std::size_t t = 0; t < n_ks; ++t) {
    Index count = 0;
    for (Index q = 0; q < n; ++q) count += hits[static_cast<std::size_t>(q) * n_ks + t];
    result.recall_at_k[t] = static_cast<double>(count) / static_cast<double>(n);
  }
  if (options.compute_map_at_r) {
    double sum = 0.0;
    for (Index q = 0; q < n; ++q) {
      if (others_of_class[static_cast<std::size_t>(q)] < 1) continue;
      sum += average_precision[static_cast<std::size_t>(q)];
      ++result.map_at_r_queries;
    }
    if (result.map_at_r_queries > 0) {
      result.map_at_r = sum / static_cast<double>(result.map_at_r_queries);
    }
  }
  return result;
}

}  // namespace pdml
