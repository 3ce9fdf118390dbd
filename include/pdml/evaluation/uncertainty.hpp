// SPDX-License-Identifier: MIT
#pragma once
// The uncertainty score of the paper: how well the embedding norm (the vMF
// concentration kappa = |e|) predicts that a query's nearest neighbour has
// the right class, measured as the area under the ROC curve.
//
// AUROC is the Mann-Whitney statistic: the probability that a random positive
// scores higher than a random negative, ties counting one half (average
// ranks). 0.5 is chance; 1 means the norm separates correct from wrong
// retrievals perfectly. It is undefined (NaN) when every query is correct or
// every query is wrong.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <type_traits>
#include <vector>

#include "pdml/core/labels.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/core/scaled_norm.hpp"
#include "pdml/core/validate.hpp"
#include "pdml/evaluation/retrieval.hpp"

namespace pdml {

/// AUROC of `scores` (n finite values, higher = more confident) for the binary
/// outcome `positive` (n values, nonzero = positive). NaN if a class is empty.
template <class T>
double auroc(const T* scores, const std::uint8_t* positive, Index n) {
  constexpr const char* fn = "pdml::auroc";
  if (n < 0) detail::throw_invalid(fn, "n", "is negative");
  if (n > 0 && scores == nullptr) detail::throw_invalid(fn, "scores", "is a null pointer");
  if (n > 0 && positive == nullptr) detail::throw_invalid(fn, "positive", "is a null pointer");
  for (Index i = 0; i < n; ++i) {
    if (!std::isfinite(scores[i])) detail::throw_invalid(fn, "scores", "has a non-finite element");
  }
  std::vector<Index> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), Index(0));
  std::sort(order.begin(), order.end(), [&](Index a, Index b) {
    return scores[a] < scores[b] || (scores[a] == scores[b] && a < b);
  });
  // Sum of the (1-based, tie-averaged) ranks of the positives.
  double positive_rank_sum = 0.0;
  Index n_positive = 0;
  for (Index start = 0; start < n;) {
    Index end = start + 1;
    while (end < n && scores[order[end]] == scores[order[start]]) ++end;
    const double average_rank = 0.5 * static_cast<double>(start + 1 + end);
    for (Index t = start; t < end; ++t) {
      if (positive[order[t]] != 0) {
        positive_rank_sum += average_rank;
        ++n_positive;
      }
    }
    start = end;
  }
  const Index n_negative = n - n_positive;
  if (n_positive == 0 || n_negative == 0) return std::numeric_limits<double>::quiet_NaN();
  const double p = static_cast<double>(n_positive);
  const double q = static_cast<double>(n_negative);
  return (positive_rank_sum - 0.5 * p * (p + 1.0)) / (p * q);
}

/// AUROC of the row norms of `embeddings` (N x D) for the outcome
/// `nearest_is_correct` (N values, as in RetrievalMetrics).
template <class T>
double norm_uncertainty_auroc(ConstMatrixView<T> embeddings,
                              const std::vector<std::uint8_t>& nearest_is_correct) {
  constexpr const char* fn = "pdml::norm_uncertainty_auroc";
  detail::check_view(fn, "embeddings", embeddings);
  detail::check_finite(fn, "embeddings", embeddings);
  if (static_cast<Index>(nearest_is_correct.size()) != embeddings.rows) {
    detail::throw_invalid(fn, "nearest_is_correct", "must hold one value per row of embeddings");
  }
  // The AUROC depends on the order of the norms only: it is computed from log |e|,
  // taken scaled (finite for every finite non-zero row, however large or subnormal;
  // the zero row ranks lowest), so no norm overflows or ties spuriously at 0.
  std::vector<double> log_norms(static_cast<std::size_t>(embeddings.rows));
  for (Index r = 0; r < embeddings.rows; ++r) {
    const ScaledNorm norm = scaled_norm(embeddings.row(r), embeddings.cols);
    log_norms[static_cast<std::size_t>(r)] =
        norm.value > 0.0 ? norm.log() : std::numeric_limits<double>::lowest();
  }
  return auroc(log_norms.data(), nearest_is_correct.data(), embeddings.rows);
}

/// The same, running the nearest-neighbour search itself (self excluded).
template <class T>
double norm_uncertainty_auroc(ConstMatrixView<T> embeddings, Labels labels,
                              Distance distance = Distance::cosine,
                              const SearchBlocks& blocks = SearchBlocks{}) {
  RetrievalOptions options;
  options.distance = distance;
  options.recall_ks = {1};
  options.compute_map_at_r = false;
  options.blocks = blocks;
  const RetrievalMetrics metrics = evaluate_retrieval(embeddings, labels, options);
  return norm_uncertainty_auroc(embeddings, metrics.nearest_is_correct);
}

/// The same two functions for a mutable view.
template <class T, std::enable_if_t<!std::is_const<T>::value, int> = 0>
double norm_uncertainty_auroc(MatrixView<T> embeddings,
                              const std::vector<std::uint8_t>& nearest_is_correct) {
  return norm_uncertainty_auroc(ConstMatrixView<T>(embeddings), nearest_is_correct);
}
template <class T, std::enable_if_t<!std::is_const<T>::value, int> = 0>
double norm_uncertainty_auroc(MatrixView<T> embeddings, Labels labels,
                              Distance distance = Distance::cosine,
                              const SearchBlocks& blocks = SearchBlocks{}) {
  return norm_uncertainty_auroc(ConstMatrixView<T>(embeddings), labels, distance, blocks);
}

/// Retrieval with rejection: for each fraction q of `fractions` (each in
/// (0, 1]), the share of correct outcomes among the ceil(q n) queries with the
/// highest `scores` (n finite values, higher = more certain), i.e. the
/// accuracy left after rejecting the least certain 1 - q. A group of tied
/// scores that straddles the cut counts in proportion to the part of it kept
/// (the expectation over random tie-breaking), so a constant score gives the
/// overall accuracy at every q: the floor that random ordering reaches on
/// average.
template <class T>
std::vector<double> rejection_curve(const T* scores, const std::uint8_t* correct, Index n,
                                    const std::vector<double>& fractions) {
  constexpr const char* fn = "pdml::rejection_curve";
  if (n < 1) detail::throw_invalid(fn, "n", "must be at least 1");
  if (scores == nullptr) detail::throw_invalid(fn, "scores", "is a null pointer");
  if (correct == nullptr) detail::throw_invalid(fn, "correct", "is a null pointer");
  for (Index i = 0; i < n; ++i) {
    if (!std::isfinite(scores[i])) detail::throw_invalid(fn, "scores", "has a non-finite element");
  }
  for (double q : fractions) {
    if (!(q > 0.0 && q <= 1.0)) detail::throw_invalid(fn, "fractions", "must lie in (0, 1]");
  }
  std::vector<Index> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), Index(0));
  std::sort(order.begin(), order.end(), [&](Index a, Index b) {
    return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
  });
  std::vector<double> accuracy;
  accuracy.reserve(fractions.size());
  for (double q : fractions) {
    const auto kept = std::max<Index>(
        1, std::min<Index>(n, static_cast<Index>(std::ceil(q * static_cast<double>(n) - 1e-9))));
    double hits = 0.0;
    for (Index start = 0; start < kept;) {
      Index end = start + 1;
      while (end < n && scores[order[end]] == scores[order[start]]) ++end;
      Index group_hits = 0;
      for (Index t = start; t < end; ++t) group_hits += correct[order[t]] != 0 ? 1 : 0;
      const Index taken = std::min(end, kept) - start;
      hits += static_cast<double>(group_hits) * static_cast<double>(taken) /
              static_cast<double>(end - start);
      start = end;
    }
    accuracy.push_back(hits / static_cast<double>(kept));
  }
  return accuracy;
}

}  // namespace pdml
