// SPDX-License-Identifier: MIT
#pragma once
// Retrieval metrics of deep metric learning, computed in one blocked pass of
// the exact nearest-neighbour search (pdml/evaluation/neighbors.hpp), in one of
// two modes:
//   leave-one-out      one set; every row is a query against all other rows
//                      (self excluded): evaluate_retrieval(embeddings, labels)
//   query / gallery    every query row against every gallery row (the two sets
//                      are disjoint, as in In-Shop):
//                      evaluate_retrieval(queries, query_labels, gallery, gallery_labels)
//
//   Recall@k  fraction of queries with at least one same-label row among their
//             k nearest neighbours.
//   mAP@R     (Musgrave et al., 2020) for a query with R >= 1 other rows of its
//             label (gallery rows of its label in query / gallery mode): AP@R = (1/R) sum_{r=1..R} rel(r) * precision@r, where rel(r)
//             says whether the r-th neighbour shares the label; averaged over the
//             queries with R >= 1 (queries alone in their class are skipped).
//
// Per-query results are written to per-query slots and reduced in query order
// afterwards, so the figures do not depend on the number of threads.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "pdml/core/detail/non_deduced.hpp"
#include "pdml/core/labels.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/core/validate.hpp"
#include "pdml/evaluation/neighbors.hpp"

namespace pdml {

struct RetrievalOptions {
  Distance distance = Distance::cosine;
  /// The k of each Recall@k; every k must lie in [1, G], G = the rows a query can
  /// meet (N - 1 in leave-one-out mode, the gallery size otherwise). Empty (the
  /// default): 1, 2, 4 and 8, keeping those that do not exceed G.
  std::vector<Index> recall_ks{};
  /// mAP@R needs max_c(|c| - 1) neighbours per query; switch it off to search fewer.
  bool compute_map_at_r = true;
  SearchBlocks blocks{};
};

struct RetrievalMetrics {
  std::vector<Index> recall_ks;     ///< the ks evaluated (the defaults the gallery supports)
  std::vector<double> recall_at_k;  ///< one per k, in [0, 1]
  double map_at_r = std::numeric_limits<double>::quiet_NaN();  ///< NaN when not computed
  Index map_at_r_queries = 0;       ///< queries with R >= 1 that entered mAP@R
  /// Per query: 1 when its nearest neighbour shares its label (the event the
  /// norm-uncertainty AUROC predicts), else 0.
  std::vector<std::uint8_t> nearest_is_correct;
};

namespace detail {

/// The ks to evaluate: options.recall_ks, each checked against `reachable` (the rows a
/// query can meet), or the default powers of two that fit.
inline std::vector<Index> resolve_recall_ks(const char* fn, const RetrievalOptions& options,
                                            Index reachable, const char* set_name) {
  if (options.recall_ks.empty()) {
    std::vector<Index> ks;
    for (Index k : {Index(1), Index(2), Index(4), Index(8)}) {
      if (k <= reachable) ks.push_back(k);
    }
    return ks;
  }
  for (Index k : options.recall_ks) {
    if (k < 1 || k > reachable) {
      std::ostringstream os;
      os << "has k = " << k << " outside [1, " << reachable << "] (" << set_name
         << "); pass ks up to " << reachable
         << ", or leave options.recall_ks empty for the default ks that fit";
      throw_invalid(fn, "options.recall_ks", os.str());
    }
  }
  return options.recall_ks;
}

inline void check_retrieval_options(const char* fn, const RetrievalOptions& options) {
  if (options.distance != Distance::cosine && options.distance != Distance::euclidean) {
    throw_invalid(fn, "options.distance", "is not a known Distance");
  }
  check_blocks(fn, options.blocks);
}

/// The shared metric computation. relevant_count[q] = R of query q (gallery rows of its
/// label, itself excluded in leave-one-out mode).
template <class T>
RetrievalMetrics retrieval_metrics(const SearchPoints<T>& queries, Labels query_labels,
                                   const SearchPoints<T>& gallery, Labels gallery_labels,
                                   bool leave_one_out, const std::vector<Index>& recall_ks,
                                   const RetrievalOptions& options) {
  const Index n = queries.points.rows();
  // Gallery rows per label, for R.
  std::unordered_map<std::int64_t, Index> class_size;
  for (Index j = 0; j < gallery.points.rows(); ++j) ++class_size[gallery_labels[j]];
  std::vector<Index> others_of_class(static_cast<std::size_t>(n));
  Index max_r = 0;
  for (Index i = 0; i < n; ++i) {
    const auto found = class_size.find(query_labels[i]);
    const Index r = (found == class_size.end() ? 0 : found->second) - (leave_one_out ? 1 : 0);
    others_of_class[static_cast<std::size_t>(i)] = r;
    max_r = std::max(max_r, r);
  }

  Index k_search = 1;
  for (Index k : recall_ks) k_search = std::max(k_search, k);
  if (options.compute_map_at_r) k_search = std::max(k_search, max_r);

  const std::size_t n_ks = recall_ks.size();
  std::vector<std::uint8_t> hits(static_cast<std::size_t>(n) * n_ks, 0);
  std::vector<double> average_precision(static_cast<std::size_t>(n), 0.0);
  RetrievalMetrics result;
  result.recall_ks = recall_ks;
  result.nearest_is_correct.assign(static_cast<std::size_t>(n), 0);

  search_blocks_between(
      queries, gallery, leave_one_out, options.distance, k_search, options.blocks,
      [&](Index q0, Index nq, const Index* indices, const T*) {
        for (Index a = 0; a < nq; ++a) {
          const Index q = q0 + a;
          const std::int64_t label = query_labels[q];
          const Index* row = indices + a * k_search;
          // Rank of the first same-label neighbour (k_search when none).
          Index first_hit = k_search;
          for (Index r = 0; r < k_search; ++r) {
            if (gallery_labels[row[r]] == label) {
              first_hit = r;
              break;
            }
          }
          result.nearest_is_correct[static_cast<std::size_t>(q)] = first_hit == 0 ? 1 : 0;
          for (std::size_t t = 0; t < n_ks; ++t) {
            hits[static_cast<std::size_t>(q) * n_ks + t] = first_hit < recall_ks[t] ? 1 : 0;
          }
          if (options.compute_map_at_r) {
            const Index r_count = others_of_class[static_cast<std::size_t>(q)];
            double sum_precision = 0.0;
            Index relevant = 0;
            for (Index r = 0; r < r_count; ++r) {
              if (gallery_labels[row[r]] == label) {
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

}  // namespace detail

/// Leave-one-out retrieval: Recall@k, mAP@R and the per-query top-1 correctness of
/// `embeddings` (N x D, finite, N >= 2) with integer class `labels` (N of them, any values,
/// std::int32_t or std::int64_t); every row is a query against the N - 1 others.
template <class T>
RetrievalMetrics evaluate_retrieval(ConstMatrixView<T> embeddings, Labels labels,
                                    const RetrievalOptions& options = RetrievalOptions{}) {
  constexpr const char* fn = "pdml::evaluate_retrieval";
  detail::check_view(fn, "embeddings", embeddings);
  const Index n = embeddings.rows;
  if (n < 2) detail::throw_invalid(fn, "embeddings", "needs at least 2 rows");
  detail::check_finite(fn, "embeddings", embeddings);
  if (labels.is_null()) detail::throw_invalid(fn, "labels", "is a null pointer");
  detail::check_retrieval_options(fn, options);
  const std::vector<Index> ks =
      detail::resolve_recall_ks(fn, options, n - 1, "N - 1, N = rows of embeddings");
  const auto prepared = detail::prepare_points(embeddings, options.distance);
  return detail::retrieval_metrics(prepared, labels, prepared, labels, true, ks, options);
}

/// The same for a mutable view (MatrixView<T> does not deduce as ConstMatrixView<T>).
template <class T, std::enable_if_t<!std::is_const<T>::value, int> = 0>
RetrievalMetrics evaluate_retrieval(MatrixView<T> embeddings, Labels labels,
                                    const RetrievalOptions& options = RetrievalOptions{}) {
  return evaluate_retrieval(ConstMatrixView<T>(embeddings), labels, options);
}

/// Query / gallery retrieval: every row of `queries` (Q x D, Q >= 1) is searched among
/// all rows of `gallery` (G x D, G >= 1, the same D); a query is never excluded from the
/// gallery, so pass disjoint sets. R of a query = the gallery rows of its label; Recall@k
/// is over all Q queries (one without a gallery row of its label never hits), mAP@R over
/// those with R >= 1. nearest_is_correct has Q entries.
template <class T>
RetrievalMetrics evaluate_retrieval(ConstMatrixView<T> queries, Labels query_labels,
                                    ConstMatrixView<detail::NonDeduced<T>> gallery,
                                    Labels gallery_labels,
                                    const RetrievalOptions& options = RetrievalOptions{}) {
  constexpr const char* fn = "pdml::evaluate_retrieval";
  detail::check_view(fn, "queries", queries);
  detail::check_view(fn, "gallery", gallery);
  if (queries.rows < 1) detail::throw_invalid(fn, "queries", "needs at least 1 row");
  if (gallery.rows < 1) detail::throw_invalid(fn, "gallery", "needs at least 1 row");
  detail::check_same_cols(fn, "gallery", gallery, "queries", queries);
  detail::check_finite(fn, "queries", queries);
  detail::check_finite(fn, "gallery", gallery);
  if (query_labels.is_null()) detail::throw_invalid(fn, "query_labels", "is a null pointer");
  if (gallery_labels.is_null()) detail::throw_invalid(fn, "gallery_labels", "is a null pointer");
  detail::check_retrieval_options(fn, options);
  const std::vector<Index> ks =
      detail::resolve_recall_ks(fn, options, gallery.rows, "G = rows of gallery");
  const auto prepared_queries = detail::prepare_points(queries, options.distance);
  const auto prepared_gallery = detail::prepare_points(gallery, options.distance);
  return detail::retrieval_metrics(prepared_queries, query_labels, prepared_gallery,
                                   gallery_labels, false, ks, options);
}

/// The same for a mutable queries view.
template <class T, std::enable_if_t<!std::is_const<T>::value, int> = 0>
RetrievalMetrics evaluate_retrieval(MatrixView<T> queries, Labels query_labels,
                                    ConstMatrixView<detail::NonDeduced<T>> gallery,
                                    Labels gallery_labels,
                                    const RetrievalOptions& options = RetrievalOptions{}) {
  return evaluate_retrieval(ConstMatrixView<T>(queries), query_labels, gallery, gallery_labels,
                            options);
}

}  // namespace pdml
