// SPDX-License-Identifier: MIT
#pragma once
// Helpers of the Thrust-host tests (host/test_*_host.cpp), which run the
// generic pdml::cuda code on Thrust's CPP system with host memory: a carved
// workspace in host memory and a strided host matrix. The comparisons and
// random inputs are those of the device tests (test_support_common.hpp).

#include <catch2/catch.hpp>

#include <cstddef>
#include <utility>
#include <vector>

#include <pdml/core/matrix_view.hpp>
#include <pdml/cuda/core/context.hpp>

#include "test_support_common.hpp"

namespace pdml_test {

/// Host memory for a carved workspace.
struct HostWorkspace {
  std::vector<std::max_align_t> storage;
  explicit HostWorkspace(std::size_t bytes) : storage(bytes / sizeof(std::max_align_t) + 1) {}
  void* data() { return storage.data(); }
};

/// The workspace protocol of the public wrappers, on the host: carve(carver)
/// runs once on a planning carver for the size, then on the returned
/// workspace, whose pointers it stores; both passes must agree.
template <class Carve>
HostWorkspace carve_host_workspace(Carve&& carve) {
  pdml::cuda::WorkspaceCarver planner(nullptr);
  carve(planner);
  HostWorkspace workspace(planner.bytes());
  pdml::cuda::WorkspaceCarver carver(workspace.data());
  carve(carver);
  REQUIRE(carver.bytes() == planner.bytes());
  return workspace;  // moving the vector keeps its storage, and the pointers
}

/// The sizes and scalars of a generic EL-nivMF criterion state
/// (pdml::cuda::detail::ElNivmfState) from the CPU criterion's options, as
/// pdml::cuda::ElNivmfLoss::forward sets them from its own; the views,
/// labels and workspace pointers are the caller's to set.
template <class State, class CpuOptions, class T>
void set_el_nivmf_sizes_and_options(State& st, const CpuOptions& options, pdml::Index batch,
                                    pdml::Index classes, pdml::Index dims, T temperature) {
  st.batch = batch;
  st.classes = classes;
  st.dims = dims;
  st.samples = options.n_samples;
  st.temperature = temperature;
  st.min_kappa = options.min_kappa;
  st.guidance_weight = options.guidance_weight;
  st.alpha = options.proxy_anchor_alpha;
  st.delta = options.proxy_anchor_delta;
  st.exact = options.scoring == decltype(options.scoring)::exact_density;
}

/// A rows x cols host matrix stored with row stride cols + pad; the padding
/// holds a sentinel that every call must leave alone.
template <class T>
struct Strided {
  static constexpr double kSentinel = 1e30;
  pdml::Index rows, cols, stride;
  std::vector<T> data;
  /// Every element `fill`.
  Strided(pdml::Index r, pdml::Index c, pdml::Index pad, T fill = T(0))
      : Strided(std::vector<T>(static_cast<std::size_t>(r * c), fill), r, c, pad) {}
  /// A copy of the dense row-major rows x cols matrix.
  Strided(const std::vector<T>& dense, pdml::Index r, pdml::Index c, pdml::Index pad)
      : rows(r),
        cols(c),
        stride(c + pad),
        data(pad_rows(dense, r, c, c + pad, static_cast<T>(kSentinel))) {}
  pdml::MatrixView<T> view() { return pdml::MatrixView<T>{data.data(), rows, cols, stride}; }
  pdml::ConstMatrixView<T> cview() const {
    return pdml::ConstMatrixView<T>{data.data(), rows, cols, stride};
  }
  std::vector<T> dense() const { return unpad_rows(data, rows, cols, stride); }
  bool padding_intact() const {
    for (pdml::Index i = 0; i < rows; ++i) {
      for (pdml::Index j = cols; j < stride; ++j) {
        if (data[static_cast<std::size_t>(i * stride + j)] != static_cast<T>(kSentinel)) {
          return false;
        }
      }
    }
    return true;
  }
};

}  // namespace pdml_test
