// SPDX-License-Identifier: MIT
#pragma once
// The generic parallel layer of pdml::cuda, written once against Thrust.
//
// Elementwise steps are functors applied over an index range with
// thrust::for_each_n; row-wise steps are routines over a group of lanes
// (parallel/group.hpp) launched by for_each_row; every pairwise product is a
// GEMM. A Backend supplies the launches and the GEMM:
//   * CudaBackend (cuda/pdml/cuda/parallel/backend_cuda.hpp): Thrust's CUDA
//     system on the caller's stream (par_nosync: nothing synchronizes) and
//     cuBLAS;
//   * HostBackend (below): Thrust's CPP system and a plain loop GEMM. The
//     thrust-host tests compile the very same algorithm with g++ and run it
//     on the CPU in CI, where there is no GPU.
// Reductions are computed in a fixed order (fixed chunks, combined
// sequentially), never with atomics, so results are bitwise reproducible.

#include <cstddef>
#include <limits>
#include <type_traits>

#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/system_error.h>

#include <cuda_runtime_api.h>

#include "pdml/config.hpp"
#include "pdml/core/matrix_view.hpp"

namespace pdml {
namespace cuda {
namespace detail {

/// Length of the fixed chunks of the two-level reductions. Fixed (not
/// derived from the device) so the summation order never changes.
constexpr Index kReductionChunk = 256;

/// Runs f(index) for index in [0, n) on the backend. Thrust reports launch
/// failures as exceptions; the host API of pdml::cuda returns them as
/// cudaError_t instead.
template <class Backend, class Functor>
cudaError_t for_each_index(const Backend& backend, Index n, Functor f) {
  if (n <= 0) return cudaSuccess;
  backend.count_kernel();
  try {
    thrust::for_each_n(backend.policy(), thrust::counting_iterator<Index>(0), n, f);
  } catch (const thrust::system_error& error) {
    return backend.error_from(error);
  }
  return backend.last_error();
}

/// Runs f(group, row) for row in [0, rows) on the backend, W lanes per row (a warp
/// slice on the GPU, parallel/group_cuda.cuh; one lane on the host). The row routines
/// are written against parallel/group.hpp.
template <int W, class Backend, class Functor>
cudaError_t for_each_row(const Backend& backend, Index rows, Functor f) {
  if (rows <= 0) return cudaSuccess;
  backend.count_kernel();
  return backend.template launch_rows<W>(rows, f);
}

/// Runs f(group, row) for row in [0, rows), a whole block per row.
template <class Backend, class Functor>
cudaError_t for_each_block_row(const Backend& backend, Index rows, Functor f) {
  if (rows <= 0) return cudaSuccess;
  backend.count_kernel();
  return backend.launch_blocks(rows, f);
}

/// Sums values[0 .. n) (a functor of the index) into chunk partials:
/// partial[k] = sum of the items of chunk k, in index order.
template <class T, class Values>
struct ChunkSumFunctor {
  Values values;
  Index n;
  T* partial;
  PDML_HOST_DEVICE void operator()(Index chunk) const {
    const Index begin = chunk * kReductionChunk;
    const Index end = begin + kReductionChunk < n ? begin + kReductionChunk : n;
    T sum = T(0);
    for (Index k = begin; k < end; ++k) sum += values(k);
    partial[chunk] = sum;
  }
};

/// Combines chunk partials in order and applies a final map to the total.
template <class T, class Finish>
struct CombineFunctor {
  const T* partial;
  Index chunks;
  Finish finish;
  PDML_HOST_DEVICE void operator()(Index) const {
    T sum = T(0);
    for (Index k = 0; k < chunks; ++k) sum += partial[k];
    finish(sum);
  }
};

inline Index chunk_count(Index n) { return (n + kReductionChunk - 1) / kReductionChunk; }

/// Deterministic two-level sum of values(k), k in [0, n); finish(total) runs
/// once on the backend. partial needs chunk_count(n) elements.
template <class T, class Backend, class Values, class Finish>
cudaError_t deterministic_sum(const Backend& backend, Index n, Values values, T* partial,
                              Finish finish) {
  const Index chunks = chunk_count(n);
  if (chunks > 0) {
    const cudaError_t status =
        for_each_index(backend, chunks, ChunkSumFunctor<T, Values>{values, n, partial});
    if (status != cudaSuccess) return status;
  }
  return for_each_index(backend, 1, CombineFunctor<T, Finish>{partial, chunks, finish});
}

/// Row-major op(A) op(B) on the host, for HostBackend. Accumulates in the
/// element type, in k order, like a textbook GEMM.
template <class T>
void host_gemm(bool trans_a, bool trans_b, Index m, Index n, Index k, T alpha, const T* a,
               Index a_stride, const T* b, Index b_stride, T beta, T* c, Index c_stride) {
  for (Index i = 0; i < m; ++i) {
    for (Index j = 0; j < n; ++j) {
      T sum = T(0);
      for (Index l = 0; l < k; ++l) {
        const T av = trans_a ? a[l * a_stride + i] : a[i * a_stride + l];
        const T bv = trans_b ? b[j * b_stride + l] : b[l * b_stride + j];
        sum += av * bv;
      }
      T& out = c[i * c_stride + j];
      out = beta == T(0) ? alpha * sum : alpha * sum + beta * out;
    }
  }
}

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
