// SPDX-License-Identifier: MIT
#pragma once
// Transpose flags of row-major GEMM operands (shared by the cuBLAS path and
// the host backend, so it does not include cuBLAS).

namespace pdml {
namespace cuda {

/// Transpose flag of a row-major operand.
enum class Op { none, transpose };

}  // namespace cuda
}  // namespace pdml
