// SPDX-License-Identifier: MIT
#pragma once
// Clustering quality of embeddings: k-means (k-means++ seeding with a fixed
// seed, Lloyd iterations, best of a few restarts) and the normalized mutual
// information (NMI) of its clusters against the class labels.
//
// NMI(A, B) = I(A; B) / ((H(A) + H(B)) / 2) (arithmetic-mean normalization,
// natural logarithms cancel); 1 when both labelings are a single group.
//
// Determinism: the random stream is std::mt19937_64 (its output sequence is
// fixed by the C++ standard) turned into doubles by hand, sums run in index
// order in double precision, and distances are computed in fixed-size blocks,
// so the clusters do not depend on the platform's <random> or on the number
// of threads. Ties (equal distances) go to the lower centroid index.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <unordered_map>
#include <utility>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include "pdml/core/eigen_map.hpp"
#include "pdml/core/labels.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/core/validate.hpp"
#include "pdml/evaluation/neighbors.hpp"

namespace pdml {

struct KMeansOptions {
  std::uint64_t seed = 0;
  int max_iterations = 100;
  int restarts = 3;  ///< independent k-means++ seedings; the lowest inertia wins
  Index block = 1024;  ///< points per block of the assignment step
};

struct KMeansResult {
  std::vector<std::int64_t> assignments;  ///< cluster of each point, in [0, k)
  RowMajorMatrix<double> centroids;       ///< k x D
  double inertia = 0.0;                   ///< sum of squared distances to the centroids
  int iterations = 0;                     ///< Lloyd iterations of the winning restart
};

namespace detail {

/// Uniform double in [0, 1) from 53 random bits.
inline double uniform01(std::mt19937_64& engine) {
  return static_cast<double>(engine() >> 11) * 0x1.0p-53;
}

/// Assigns each point to its closest centroid; returns the inertia.
/// squared_distance receives each point's squared distance to its centroid.
inline double assign_clusters(const RowMajorMatrix<double>& points,
                              const Eigen::VectorXd& point_norms,
                              const RowMajorMatrix<double>& centroids, Index block,
                              std::vector<std::int64_t>& assignments,
                              std::vector<double>& squared_distance) {
  const Index n = points.rows();
  const Index k = centroids.rows();
  const Eigen::VectorXd centroid_norms = centroids.rowwise().squaredNorm();
  const Index n_blocks = (n + block - 1) / block;
#ifdef _OPENMP
#pragma omp parallel
#endif
  {
    RowMajorMatrix<double> dots(block, k);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
    for (Index b = 0; b < n_blocks; ++b) {
      const Index p0 = b * block;
      const Index np = std::min(block, n - p0);
      auto part = dots.topRows(np);
      part.noalias() = points.middleRows(p0, np) * centroids.transpose();
      for (Index a = 0; a < np; ++a) {
        Index best = 0;
        double best_distance = std::numeric_limits<double>::infinity();
        for (Index c = 0; c < k; ++c) {
          const double d = point_norms(p0 + a) - 2.0 * part(a, c) + centroid_norms(c);
          if (d < best_distance) {
            best_distance = d;
            best = c;
          }
        }
        assignments[static_cast<std::size_t>(p0 + a)] = best;
        squared_distance[static_cast<std::size_t>(p0 + a)] = std::max(0.0, best_distance);
      }
    }
  }
  double inertia = 0.0;
  for (double d : squared_distance) inertia += d;
  return inertia;
}

/// k-means++: the first centroid uniformly, each next one with probability
/// proportional to the squared distance to the closest centroid so far.
inline RowMajorMatrix<double> seed_kmeans_plus_plus(const RowMajorMatrix<double>& points,
                                                    Index k, std::mt19937_64& engine) {
  const Index n = points.rows();
  RowMajorMatrix<double> centroids(k, points.cols());
  Index first = static_cast<Index>(uniform01(engine) * static_cast<double>(n));
  first = std::min(first, n - 1);
  centroids.row(0) = points.row(first);
  std::vector<double> closest(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) {
    closest[static_cast<std::size_t>(i)] = (points.row(i) - centroids.row(0)).squaredNorm();
  }
  for (Index c = 1; c < k; ++c) {
    double total = 0.0;
    for (double d : closest) total += d;
    Index chosen = n - 1;
    if (total > 0.0) {
      const double target = uniform01(engine) * total;
      double running = 0.0;
      for (Index i = 0; i < n; ++i) {
        running += closest[static_cast<std::size_t>(i)];
        if (running > target) {
          chosen = i;
          break;
        }
      }
    } else {
      // Every point coincides with a centroid: any choice is as good.
      chosen = std::min(n - 1, static_cast<Index>(uniform01(engine) * static_cast<double>(n)));
    }
    centroids.row(c) = points.row(chosen);
    for (Index i = 0; i < n; ++i) {
      closest[static_cast<std::size_t>(i)] = std::min(
          closest[static_cast<std::size_t>(i)], (points.row(i) - centroids.row(c)).squaredNorm());
    }
  }
  return centroids;
}

}  // namespace detail

/// k-means of the rows of `points` (N x D, finite) into `n_clusters` in [1, N] clusters.
template <class T>
KMeansResult kmeans(ConstMatrixView<T> points, Index n_clusters,
                    const KMeansOptions& options = KMeansOptions{}) {
  constexpr const char* fn = "pdml::kmeans";
  detail::check_view(fn, "points", points);
  detail::check_finite(fn, "points", points);
  const Index n = points.rows;
  if (n < 1) detail::throw_invalid(fn, "points", "needs at least 1 row");
  if (n_clusters < 1 || n_clusters > n) {
    detail::throw_invalid(fn, "n_clusters", "must lie in [1, N] (N = rows of points)");
  }
  if (options.max_iterations < 1) {
    detail::throw_invalid(fn, "options.max_iterations", "must be at least 1");
  }
  if (options.restarts < 1) detail::throw_invalid(fn, "options.restarts", "must be at least 1");
  if (options.block < 1) detail::throw_invalid(fn, "options.block", "must be at least 1");

  // Lloyd's iterations run on the points times one power of two 2^-exponent that
  // brings the largest magnitude into [0.5, 1): exact, it changes no assignment, and
  // no squared distance overflows or vanishes for any finite input. Centroids and
  // inertia are scaled back at the end.
  RowMajorMatrix<double> data = as_eigen(points).template cast<double>();
  const double largest = data.size() > 0 ? data.cwiseAbs().maxCoeff() : 0.0;
  const int exponent = largest > 0.0 ? std::ilogb(largest) + 1 : 0;
  for (Index i = 0; i < data.size(); ++i) data.data()[i] = std::scalbn(data.data()[i], -exponent);
  const Eigen::VectorXd point_norms = data.rowwise().squaredNorm();
  const Index k = n_clusters;
  const Index block = std::min(options.block, n);
  std::mt19937_64 engine(options.seed);

  KMeansResult best;
  best.inertia = std::numeric_limits<double>::infinity();
  std::vector<std::int64_t> assignments(static_cast<std::size_t>(n));
  std::vector<std::int64_t> previous(static_cast<std::size_t>(n));
  std::vector<double> squared_distance(static_cast<std::size_t>(n));
  std::vector<Index> members(static_cast<std::size_t>(k));

  for (int restart = 0; restart < options.restarts; ++restart) {
    RowMajorMatrix<double> centroids = detail::seed_kmeans_plus_plus(data, k, engine);
    double inertia = detail::assign_clusters(data, point_norms, centroids, block, assignments,
                                             squared_distance);
    int iteration = 0;
    for (; iteration < options.max_iterations; ++iteration) {
      // Update step: means of the members, summed in index order.
      centroids.setZero();
      std::fill(members.begin(), members.end(), Index(0));
      for (Index i = 0; i < n; ++i) {
        const auto c = static_cast<Index>(assignments[static_cast<std::size_t>(i)]);
        centroids.row(c) += data.row(i);
        ++members[static_cast<std::size_t>(c)];
      }
      for (Index c = 0; c < k; ++c) {
        if (members[static_cast<std::size_t>(c)] > 0) {
          centroids.row(c) /= static_cast<double>(members[static_cast<std::size_t>(c)]);
          continue;
        }
        // An empty cluster takes over the point farthest from its centroid
        // among clusters that can spare one (ties: lowest index).
        Index farthest = -1;
        for (Index i = 0; i < n; ++i) {
          const auto owner = static_cast<std::size_t>(assignments[static_cast<std::size_t>(i)]);
          if (members[owner] < 2) continue;
          if (farthest < 0 || squared_distance[static_cast<std::size_t>(i)] >
                                  squared_distance[static_cast<std::size_t>(farthest)]) {
            farthest = i;
          }
        }
        if (farthest >= 0) {
          --members[static_cast<std::size_t>(assignments[static_cast<std::size_t>(farthest)])];
          assignments[static_cast<std::size_t>(farthest)] = c;
          squared_distance[static_cast<std::size_t>(farthest)] = 0.0;
          members[static_cast<std::size_t>(c)] = 1;
          centroids.row(c) = data.row(farthest);
        }
      }
      previous = assignments;
      inertia = detail::assign_clusters(data, point_norms, centroids, block, assignments,
                                        squared_distance);
      if (assignments == previous) {
        ++iteration;
        break;
      }
    }
    if (!(best.assignments.size() == assignments.size()) || inertia < best.inertia) {
      best.inertia = inertia;
      best.assignments = assignments;
      best.centroids = centroids;
      best.iterations = iteration;
    }
  }
  // Back to the input's scale (the inertia saturates at the largest double where
  // the true sum of squared distances exceeds it).
  for (Index i = 0; i < best.centroids.size(); ++i) {
    best.centroids.data()[i] = std::scalbn(best.centroids.data()[i], exponent);
  }
  best.inertia = std::min(std::scalbn(best.inertia, 2 * exponent), std::numeric_limits<double>::max());
  return best;
}

/// NMI between two labelings of the same n items (arbitrary integer values).
/// Labels are std::int32_t or std::int64_t (each argument either).
inline double normalized_mutual_information(Labels labels_a, Labels labels_b, Index n) {
  constexpr const char* fn = "pdml::normalized_mutual_information";
  if (n < 1) detail::throw_invalid(fn, "n", "must be at least 1");
  if (labels_a.is_null()) detail::throw_invalid(fn, "labels_a", "is a null pointer");
  if (labels_b.is_null()) detail::throw_invalid(fn, "labels_b", "is a null pointer");
  std::map<std::int64_t, Index> count_a;
  std::map<std::int64_t, Index> count_b;
  std::map<std::pair<std::int64_t, std::int64_t>, Index> joint;
  for (Index i = 0; i < n; ++i) {
    ++count_a[labels_a[i]];
    ++count_b[labels_b[i]];
    ++joint[{labels_a[i], labels_b[i]}];
  }
  const double total = static_cast<double>(n);
  auto entropy = [&](const std::map<std::int64_t, Index>& counts) {
    double h = 0.0;
    for (const auto& entry : counts) {
      const double p = static_cast<double>(entry.second) / total;
      h -= p * std::log(p);
    }
    return h;
  };
  const double h_a = entropy(count_a);
  const double h_b = entropy(count_b);
  double mutual = 0.0;
  for (const auto& entry : joint) {
    const double p_ab = static_cast<double>(entry.second) / total;
    const double p_a = static_cast<double>(count_a[entry.first.first]) / total;
    const double p_b = static_cast<double>(count_b[entry.first.second]) / total;
    mutual += p_ab * std::log(p_ab / (p_a * p_b));
  }
  const double normalizer = 0.5 * (h_a + h_b);
  if (normalizer <= 0.0) return 1.0;  // both labelings are a single group: identical
  return std::min(1.0, std::max(0.0, mutual / normalizer));
}

/// NMI of k-means clusters (as many clusters as distinct labels) against
/// `labels`. With Distance::cosine the rows are normalized first (a zero row
/// stays zero), as retrieval with cosine distance sees them.
template <class T>
double clustering_nmi(ConstMatrixView<T> embeddings, Labels labels,
                      Distance distance = Distance::cosine,
                      const KMeansOptions& options = KMeansOptions{}) {
  constexpr const char* fn = "pdml::clustering_nmi";
  detail::check_view(fn, "embeddings", embeddings);
  if (embeddings.rows < 1) detail::throw_invalid(fn, "embeddings", "needs at least 1 row");
  detail::check_finite(fn, "embeddings", embeddings);
  if (labels.is_null()) detail::throw_invalid(fn, "labels", "is a null pointer");
  if (distance != Distance::cosine && distance != Distance::euclidean) {
    detail::throw_invalid(fn, "distance", "is not a known Distance");
  }
  std::unordered_map<std::int64_t, int> distinct;
  for (Index i = 0; i < embeddings.rows; ++i) distinct[labels[i]] = 1;
  const auto prepared = detail::prepare_points(embeddings, distance);
  const KMeansResult clusters =
      kmeans(ConstMatrixView<T>{prepared.points.data(), prepared.points.rows(),
                                 prepared.points.cols(), prepared.points.cols()},
             static_cast<Index>(distinct.size()), options);
  return normalized_mutual_information(clusters.assignments.data(), labels, embeddings.rows);
}

/// kmeans and clustering_nmi for a mutable view.
template <class T, std::enable_if_t<!std::is_const<T>::value, int> = 0>
KMeansResult kmeans(MatrixView<T> points, Index n_clusters,
                    const KMeansOptions& options = KMeansOptions{}) {
  return kmeans(ConstMatrixView<T>(points), n_clusters, options);
}
template <class T, std::enable_if_t<!std::is_const<T>::value, int> = 0>
double clustering_nmi(MatrixView<T> embeddings, Labels labels,
                      Distance distance = Distance::cosine,
                      const KMeansOptions& options = KMeansOptions{}) {
  return clustering_nmi(ConstMatrixView<T>(embeddings), labels, distance, options);
}

}  // namespace pdml
