// SPDX-License-Identifier: MIT
#pragma once
// Device-side status reports: a kernel that meets invalid device data sets
// bits of a status word in the workspace (pdml::cuda::DeviceStatus) instead of
// trapping or synchronizing. The bits are combined with an integer atomic OR:
// OR is commutative and idempotent, so the final word does not depend on the
// order of the reports (the determinism rule against atomics concerns
// floating-point accumulation, whose result depends on the order).

#include <cstdint>

#include "pdml/config.hpp"

namespace pdml {
namespace cuda {

/// Bits of the device status word that the criterion keeps in its workspace
/// (ElNivmfLoss::Saved::status, a device std::uint32_t): set by the forward's
/// kernels when they meet invalid device data, without synchronizing; zero
/// when the data was valid. Read it after the forward (cudaMemcpyAsync to the
/// host, then synchronize) whenever convenient, e.g. every few hundred steps.
struct DeviceStatus {
  /// An embedding row with a NaN or infinite entry (or a norm that overflows).
  static constexpr std::uint32_t non_finite_embedding = 1u << 0;
  /// A proxy vector or concentration row with a NaN or infinite entry.
  static constexpr std::uint32_t non_finite_proxy = 1u << 1;
  /// A proxy vector that is exactly zero (no direction).
  static constexpr std::uint32_t zero_proxy = 1u << 2;
  /// A label outside [0, C).
  static constexpr std::uint32_t label_out_of_range = 1u << 3;
  /// The loss came out NaN or infinite (e.g. non-finite caller samples).
  static constexpr std::uint32_t non_finite_loss = 1u << 4;
};

namespace detail {

PDML_HOST_DEVICE PDML_FORCE_INLINE void report_status(std::uint32_t* status, std::uint32_t bits) {
  if (status == nullptr) return;
#if defined(__CUDA_ARCH__)
  atomicOr(reinterpret_cast<unsigned int*>(status), static_cast<unsigned int>(bits));
#else
  *status |= bits;  // the host backend runs sequentially
#endif
}

/// x is finite (false for NaN and +-inf), without <cmath>'s isfinite, which is
/// not a device function for every type.
template <class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE bool finite_value(T x) {
  return x - x == T(0);
}

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
