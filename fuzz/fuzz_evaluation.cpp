// SPDX-License-Identifier: MIT
// libFuzzer harness: retrieval (Recall@k, mAP@R, nearest neighbours), clustering
// (k-means, NMI) and the norm AUROC, float and double, cosine and Euclidean.
// Contract (docs/reliability.md): each call either throws std::invalid_argument
// naming one of its arguments, or returns finite figures in their ranges: recall,
// mAP@R and NMI in [0, 1], AUROC in [0, 1] (NaN only when every query is right or
// every one wrong), distances finite and >= 0, assignments in [0, k). Scaling all
// embeddings by a power of two changes no figure (the search is scale-free).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include <pdml/core/eigen_map.hpp>
#include <pdml/evaluation/clustering.hpp>
#include <pdml/evaluation/neighbors.hpp>
#include <pdml/evaluation/retrieval.hpp>
#include <pdml/evaluation/uncertainty.hpp>

#include "fuzz_common.hpp"

namespace {

using pdml_fuzz::Matrix;
using pdml_fuzz::require;

bool in_unit_interval(double x) { return x >= 0.0 && x <= 1.0; }

template <class T>
void fuzz_one(pdml_fuzz::Input& in) {
  const int n = in.integer(2, 6), d = in.integer(1, 4);
  const Matrix<T> x = in.matrix<T>(n, d);
  std::vector<std::int64_t> labels(static_cast<std::size_t>(n));
  for (auto& label : labels) label = in.integer(0, 2);
  const pdml::Distance distance = in.flag() ? pdml::Distance::cosine : pdml::Distance::euclidean;
  const auto view = pdml::view_of(x);

  pdml::RetrievalOptions options;
  options.distance = distance;
  options.recall_ks = {1, n - 1};
  pdml::RetrievalMetrics metrics;
  try {
    metrics = pdml::evaluate_retrieval(view, labels.data(), options);
  } catch (const std::invalid_argument& e) {
    pdml_fuzz::require_names_one_of(e, {"embeddings", "labels", "options.recall_ks"});
    require(!pdml_fuzz::all_finite(x), "evaluate_retrieval rejected finite embeddings");
    return;
  }
  for (double r : metrics.recall_at_k) require(in_unit_interval(r), "recall outside [0, 1]");
  require(metrics.recall_at_k[0] <= metrics.recall_at_k[1], "recall@1 > recall@(n-1)");
  require(std::isnan(metrics.map_at_r) ? metrics.map_at_r_queries == 0 : in_unit_interval(metrics.map_at_r),
          "mAP@R outside [0, 1]");

  // A common power-of-two scale leaves every figure as it was.
  const int shift = in.integer(-40, 40);
  Matrix<T> scaled = x;
  bool exact = true;
  for (Eigen::Index i = 0; i < scaled.size(); ++i) {
    scaled.data()[i] = std::ldexp(scaled.data()[i], shift);
    exact = exact && std::isfinite(scaled.data()[i]) &&
            std::ldexp(scaled.data()[i], -shift) == x.data()[i];
  }
  if (exact) {
    const auto again = pdml::evaluate_retrieval(pdml::view_of(static_cast<const Matrix<T>&>(scaled)),
                                                labels.data(), options);
    require(again.nearest_is_correct == metrics.nearest_is_correct,
            "a power-of-two scale changed the nearest neighbours");
  }

  Matrix<pdml::Index> neighbors(n, n - 1);
  Matrix<T> distances(n, n - 1);
  pdml::nearest_neighbors(view, n - 1, distance, pdml::view_of(neighbors), pdml::view_of(distances));
  require(pdml_fuzz::all_finite(distances), "a distance is not finite");
  require((distances.array() >= T(0)).all() || distance == pdml::Distance::cosine, "negative distance");

  const double auroc = pdml::norm_uncertainty_auroc(view, metrics.nearest_is_correct);
  Eigen::Index right = 0;
  for (auto v : metrics.nearest_is_correct) right += v;
  if (right == 0 || right == n) {
    require(std::isnan(auroc), "AUROC of one class must be NaN");
  } else {
    require(in_unit_interval(auroc), "AUROC outside [0, 1]");
  }

  pdml::KMeansOptions kmeans_options;
  kmeans_options.restarts = 2;
  kmeans_options.max_iterations = 20;
  const int k = in.integer(1, n);
  const pdml::KMeansResult clusters = pdml::kmeans(view, k, kmeans_options);
  require(std::isfinite(clusters.inertia) && clusters.inertia >= 0.0, "k-means inertia not finite");
  require(clusters.centroids.allFinite(), "k-means centroid not finite");
  for (auto a : clusters.assignments) require(a >= 0 && a < k, "k-means assignment out of range");
  const double nmi = pdml::clustering_nmi(view, labels.data(), distance, kmeans_options);
  require(in_unit_interval(nmi), "NMI outside [0, 1]");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pdml_fuzz::Input in(data, size);
  if (in.flag()) {
    fuzz_one<float>(in);
  } else {
    fuzz_one<double>(in);
  }
  return 0;
}
