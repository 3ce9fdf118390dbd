// SPDX-License-Identifier: MIT
#pragma once
// fp16 / bf16 inputs of the fp32 criterion: one fused pass converts the
// embeddings (B x D) and proxy vectors (C x D) from __half or __nv_bfloat16
// into dense fp32 buffers of the workspace, which the fp32 algorithm then
// reads like any other input. The conversion is exact (every fp16 and bf16
// value is an fp32 value), so the result is the fp32 criterion on the
// rounded inputs. Written against a Backend, so the thrust-host tests run it
// on the CPU (cuda_fp16.h / cuda_bf16.h conversions are host-callable).

#include <cstddef>
#include <type_traits>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include "pdml/config.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/core/context.hpp"
#include "pdml/cuda/parallel/launch.hpp"

namespace pdml {
namespace cuda {
namespace detail {

/// The half-precision input types the fp32 criterion accepts.
template <class In>
struct IsHalfInput : std::false_type {};
template <>
struct IsHalfInput<__half> : std::true_type {};
template <>
struct IsHalfInput<__nv_bfloat16> : std::true_type {};

PDML_HOST_DEVICE PDML_FORCE_INLINE float to_float(__half x) { return __half2float(x); }
PDML_HOST_DEVICE PDML_FORCE_INLINE float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

/// Index k < B D: embedding element k; otherwise proxy element k - B D.
template <class In>
struct ConvertInputs {
  MatrixView<const In> embeddings;  // B x D
  MatrixView<const In> proxies;     // C x D
  float* embeddings_out;            // B x D dense
  float* proxies_out;               // C x D dense
  PDML_HOST_DEVICE void operator()(Index k) const {
    const Index dims = embeddings.cols;
    const Index split = embeddings.rows * dims;
    if (k < split) {
      const Index r = k / dims;
      embeddings_out[k] = to_float(embeddings(r, k - r * dims));
    } else {
      const Index q = k - split;
      const Index r = q / dims;
      proxies_out[q] = to_float(proxies(r, q - r * dims));
    }
  }
};

/// The fp32 copies of half-precision inputs, carved from the workspace.
struct HalfInputBuffers {
  float* embeddings = nullptr;  // B x D
  float* proxies = nullptr;     // C x D
};

inline HalfInputBuffers carve_half_inputs(WorkspaceCarver& carver, Index batch, Index classes,
                                          Index dims) {
  HalfInputBuffers buffers;
  buffers.embeddings = carver.take<float>(static_cast<std::size_t>(batch * dims));
  buffers.proxies = carver.take<float>(static_cast<std::size_t>(classes * dims));
  return buffers;
}

/// Converts both inputs in one pass over B D + C D elements.
template <class In, class Backend>
cudaError_t convert_half_inputs(const Backend& be, MatrixView<const In> embeddings,
                                MatrixView<const In> proxies, const HalfInputBuffers& out) {
  static_assert(IsHalfInput<In>::value, "half-precision inputs are __half or __nv_bfloat16");
  return for_each_index(be, (embeddings.rows + proxies.rows) * embeddings.cols,
                        ConvertInputs<In>{embeddings, proxies, out.embeddings, out.proxies});
}

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
