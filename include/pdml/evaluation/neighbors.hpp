// SPDX-License-Identifier: MIT
#pragma once
// Exact k-nearest-neighbour search within one set of embeddings (each row is a
// query against all other rows; a row is never its own neighbour), by brute
// force through blocked matrix products and a partial top-k per query.
//
// Memory is bounded by the block sizes, never by N x N: a block of queries is
// scored against one block of the database at a time, and each query keeps
// only its k best candidates. 100k x 100k therefore runs in a few tens of MiB.
//
// Ranking and ties (deterministic, documented in docs/math.md, "evaluation"):
//   cosine     score = <x_i / |x_i|, x_j / |x_j|>   (a zero row scores 0 against everything)
//   euclidean  score = -(|x_i|^2 + |x_j|^2 - 2 <x_i, x_j>)   (= -squared distance)
// Neighbours are ordered by decreasing score; equal scores are ordered by
// increasing database index. The order is total, so given the scores the
// result does not depend on the order in which candidates are met; and since
// the block sizes are fixed, every score is computed by the same operations
// whatever the number of threads: results are independent of threads.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <limits>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "pdml/core/eigen_map.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/core/scaled_norm.hpp"
#include "pdml/core/validate.hpp"

namespace pdml {

/// Which distance ranks the neighbours.
enum class Distance {
  cosine,     ///< angle between rows (rows are normalized first)
  euclidean,  ///< Euclidean distance between raw rows
};

/// Block sizes of the brute-force search. Memory per thread is about
/// query_block * (database_block + k) * (sizeof(T) + sizeof(Index)) bytes.
struct SearchBlocks {
  Index query_block = 64;
  Index database_block = 2048;
};

namespace detail {

template <class T>
struct ScoredIndex {
  T score;
  Index index;
};

/// The total order of the ranking: higher score first, then lower index.
template <class T>
PDML_FORCE_INLINE bool ranks_before(const ScoredIndex<T>& a, const ScoredIndex<T>& b) {
  return a.score > b.score || (a.score == b.score && a.index < b.index);
}

inline void check_blocks(const char* function, const SearchBlocks& blocks) {
  if (blocks.query_block < 1) throw_invalid(function, "blocks.query_block", "must be at least 1");
  if (blocks.database_block < 1) {
    throw_invalid(function, "blocks.database_block", "must be at least 1");
  }
}

/// The rows the search scores: normalized rows for cosine, raw rows (and
/// their squared norms) for Euclidean. Rows of a zero vector stay zero.
/// Norms are never squared unscaled: cosine rows are divided by their scaled
/// norm (core/scaled_norm.hpp), and Euclidean rows are all multiplied by one
/// power of two 2^-exponent that brings the largest magnitude into [0.5, 1)
/// (exact, and it leaves the ranking unchanged), so that squared norms and
/// dot products neither overflow nor vanish for any finite input.
template <class T>
struct SearchPoints {
  RowMajorMatrix<T> points;
  Eigen::Matrix<T, Eigen::Dynamic, 1> squared_norms;  // Euclidean only
  int exponent = 0;  // Euclidean: points = embeddings * 2^-exponent
};

template <class T>
SearchPoints<T> prepare_points(ConstMatrixView<T> embeddings, Distance distance) {
  SearchPoints<T> prepared;
  prepared.points = as_eigen(embeddings);
  const Index cols = prepared.points.cols();
  if (distance == Distance::cosine) {
    for (Index r = 0; r < prepared.points.rows(); ++r) {
      T* row = prepared.points.row(r).data();
      const ScaledNorm norm = scaled_norm(row, cols);
      if (norm.value > 0.0) divide_by_scaled_norm(row, cols, 1, norm, row);
    }
  } else {
    T largest = T(0);
    for (Index r = 0; r < prepared.points.rows(); ++r) {
      largest = std::max(largest, prepared.points.row(r).cwiseAbs().maxCoeff());
    }
    if (largest > T(0)) {
      prepared.exponent = std::ilogb(largest) + 1;
      for (Index r = 0; r < prepared.points.rows(); ++r) {
        for (Index c = 0; c < cols; ++c) {
          prepared.points(r, c) = std::scalbn(prepared.points(r, c), -prepared.exponent);
        }
      }
    }
    prepared.squared_norms = prepared.points.rowwise().squaredNorm();
  }
  return prepared;
}

/// Runs the blocked search and hands each block of queries, with its k best
/// neighbours (rank order) and their scores, to `visit(first_query, count,
/// indices, scores)`; indices and scores are count x k, row-major. `visit`
/// is called concurrently for disjoint query ranges when OpenMP is on.
/// The same for separate query and database sets: every query row against every
/// database row (with exclude_self, query row i never meets database row i: the
/// leave-one-out search within one set).
template <class T, class Visit>
void search_blocks_between(const SearchPoints<T>& queries, const SearchPoints<T>& prepared,
                           bool exclude_self, Distance distance, Index k,
                           const SearchBlocks& blocks, Visit&& visit) {
  const Index n = prepared.points.rows();
  const Index n_queries = queries.points.rows();
  if (n == 0 || n_queries == 0 || k == 0) return;
  const Index query_block = std::min(blocks.query_block, n_queries);
  const Index database_block = std::min(blocks.database_block, n);
  const Index n_query_blocks = (n_queries + query_block - 1) / query_block;

#ifdef _OPENMP
#pragma omp parallel
#endif
  {
    RowMajorMatrix<T> scores(query_block, database_block);
    std::vector<ScoredIndex<T>> candidates(static_cast<std::size_t>(query_block) *
                                           static_cast<std::size_t>(k + database_block));
    std::vector<Index> kept(static_cast<std::size_t>(query_block));
    std::vector<Index> out_indices(static_cast<std::size_t>(query_block * k));
    std::vector<T> out_scores(static_cast<std::size_t>(query_block * k));
    const std::size_t capacity = static_cast<std::size_t>(k + database_block);

#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
    for (Index qb = 0; qb < n_query_blocks; ++qb) {
      const Index q0 = qb * query_block;
      const Index nq = std::min(query_block, n_queries - q0);
      std::fill(kept.begin(), kept.begin() + nq, Index(0));
      for (Index d0 = 0; d0 < n; d0 += database_block) {
        const Index nd = std::min(database_block, n - d0);
        auto block = scores.topLeftCorner(nq, nd);
        block.noalias() = queries.points.middleRows(q0, nq) *
                          prepared.points.middleRows(d0, nd).transpose();
        if (distance == Distance::euclidean) {
          // -(|q|^2 + |x|^2 - 2 q.x), written so each entry is computed the same
          // way whatever the block it falls in.
          for (Index a = 0; a < nq; ++a) {
            const T qn = queries.squared_norms(q0 + a);
            for (Index b = 0; b < nd; ++b) {
              block(a, b) = T(2) * block(a, b) - qn - prepared.squared_norms(d0 + b);
            }
          }
        }
        for (Index a = 0; a < nq; ++a) {
          ScoredIndex<T>* list = candidates.data() + static_cast<std::size_t>(a) * capacity;
          Index count = kept[a];
          const bool full = count == k;
          const ScoredIndex<T> worst = full ? list[k - 1] : ScoredIndex<T>{T(0), 0};
          const Index self = exclude_self ? q0 + a : Index(-1);
          for (Index b = 0; b < nd; ++b) {
            const Index j = d0 + b;
            if (j == self) continue;
            const ScoredIndex<T> candidate{block(a, b), j};
            if (full && !ranks_before(candidate, worst)) continue;
            list[count++] = candidate;
          }
          if (count > k || (count == k && !full)) {
            // Keep the k best, with the invariant that list[k - 1] is the worst of them.
            std::nth_element(list, list + (k - 1), list + count, ranks_before<T>);
            count = k;
          }
          kept[a] = count;
        }
      }
      for (Index a = 0; a < nq; ++a) {
        ScoredIndex<T>* list = candidates.data() + static_cast<std::size_t>(a) * capacity;
        std::sort(list, list + kept[a], ranks_before<T>);
        for (Index r = 0; r < k; ++r) {
          out_indices[static_cast<std::size_t>(a * k + r)] = list[r].index;
          out_scores[static_cast<std::size_t>(a * k + r)] = list[r].score;
        }
      }
      visit(q0, nq, out_indices.data(), out_scores.data());
    }
  }
}

template <class T, class Visit>
void search_blocks(const SearchPoints<T>& prepared, Distance distance, Index k,
                   const SearchBlocks& blocks, Visit&& visit) {
  search_blocks_between(prepared, prepared, true, distance, k, blocks,
                        std::forward<Visit>(visit));
}

}  // namespace detail

/// The k nearest neighbours of every row among the other rows.
/// embeddings: N x D, finite. k in [1, N - 1] (or 0 with an empty output).
/// neighbors: N x k, receives database row indices in rank order.
/// distances: N x k (optional, may be empty 0 x 0): cosine distance 1 - cos, or the
/// Euclidean distance, of each neighbour.
template <class T>
void nearest_neighbors(ConstMatrixView<T> embeddings, Index k, Distance distance,
                       MatrixView<Index> neighbors, MatrixView<T> distances,
                       const SearchBlocks& blocks = SearchBlocks{}) {
  constexpr const char* fn = "pdml::nearest_neighbors";
  detail::check_view(fn, "embeddings", embeddings);
  detail::check_finite(fn, "embeddings", embeddings);
  const Index n = embeddings.rows;
  if (k < 0 || (n > 0 && k > n - 1) || (n == 0 && k > 0)) {
    detail::throw_invalid(fn, "k", "must lie in [0, N - 1] (N = rows of embeddings)");
  }
  detail::check_shape(fn, "neighbors", neighbors, n, k);
  const bool want_distances = !(distances.rows == 0 && distances.cols == 0);
  if (want_distances) detail::check_shape(fn, "distances", distances, n, k);
  detail::check_blocks(fn, blocks);
  if (distance != Distance::cosine && distance != Distance::euclidean) {
    detail::throw_invalid(fn, "distance", "is not a known Distance");
  }

  const auto prepared = detail::prepare_points(embeddings, distance);
  detail::search_blocks(prepared, distance, k, blocks,
                        [&](Index q0, Index nq, const Index* indices, const T* scores) {
                          for (Index a = 0; a < nq; ++a) {
                            for (Index r = 0; r < k; ++r) {
                              neighbors(q0 + a, r) = indices[a * k + r];
                              if (!want_distances) continue;
                              const T s = scores[a * k + r];
                              // Euclidean: back to the input's scale, saturating at
                              // the largest T where the true distance exceeds it.
                              distances(q0 + a, r) =
                                  distance == Distance::cosine
                                      ? T(1) - s
                                      : std::min(std::scalbn(std::sqrt(std::max(T(0), -s)),
                                                             prepared.exponent),
                                                 std::numeric_limits<T>::max());
                            }
                          }
                        });
}

/// nearest_neighbors for a mutable embeddings view.
template <class T, std::enable_if_t<!std::is_const<T>::value, int> = 0>
void nearest_neighbors(MatrixView<T> embeddings, Index k, Distance distance,
                       MatrixView<Index> neighbors, MatrixView<T> distances,
                       const SearchBlocks& blocks = SearchBlocks{}) {
  nearest_neighbors(ConstMatrixView<T>(embeddings), k, distance, neighbors, distances, blocks);
}

}  // namespace pdml
