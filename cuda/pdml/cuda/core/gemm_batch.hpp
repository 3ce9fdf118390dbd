// SPDX-License-Identifier: MIT
#pragma once
// Batched GEMMs through pointer arrays: one cuBLAS call (one launch) multiplies
// several same-shaped operand pairs. The criterion uses it to run ProxyAnchor's
// products with the sample products: G = X A^T split into its S row blocks of B
// rows (X is sample-major), plus M = mu Nu^T, are S + 1 products of B x D by
// D x C, which is the shape cuBLAS's batched GEMM needs; likewise dL/dX = dG A
// with dL/dmu = dM Nu in the backward.
//
// The pointer arrays live in device memory (cuBLAS reads them there), inside
// the caller's workspace. They are written by a row of a launch that runs
// before the GEMM anyway (RowBlocksPlusOne below), so a step needs no host to
// device copy and stays capturable in a CUDA graph.

#include <cstddef>

#include "pdml/config.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/core/context.hpp"

namespace pdml {
namespace cuda {
namespace detail {

/// The operand arrays of one batched GEMM: entry i computes
/// out[i] = alpha op(left[i]) op(right[i]) + beta out[i] (row-major), every
/// entry with the same sizes and row strides. Device memory on the GPU.
template <class T>
struct GemmBatch {
  const T** left = nullptr;
  const T** right = nullptr;
  T** out = nullptr;
  Index count = 0;
};

/// Carves the three pointer arrays of a batch of `count` products.
template <class T>
GemmBatch<T> carve_gemm_batch(WorkspaceCarver& carver, Index count) {
  GemmBatch<T> batch;
  const std::size_t n = static_cast<std::size_t>(count);
  batch.left = carver.take<const T*>(n);
  batch.right = carver.take<const T*>(n);
  batch.out = carver.take<T*>(n);
  batch.count = count;
  return batch;
}

/// Writes a GemmBatch of `blocks` + 1 entries: entry i < blocks multiplies the
/// i-th block of `block_rows` rows of `left` (row stride left_stride) by the
/// shared `right` into the same rows of `out` (row stride out_stride); entry
/// `blocks` multiplies extra_left by extra_right into extra_out. One entry per
/// index: run it as an items role of a launch that precedes the GEMM.
template <class T>
struct RowBlocksPlusOne {
  GemmBatch<T> batch;
  const T* left;
  Index left_stride;
  const T* right;
  T* out;
  Index out_stride;
  Index blocks, block_rows;
  const T* extra_left;
  const T* extra_right;
  T* extra_out;
  PDML_HOST_DEVICE void operator()(Index i) const {
    if (i < blocks) {
      batch.left[i] = left + i * block_rows * left_stride;
      batch.right[i] = right;
      batch.out[i] = out + i * block_rows * out_stride;
    } else {
      batch.left[i] = extra_left;
      batch.right[i] = extra_right;
      batch.out[i] = extra_out;
    }
  }
};

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
