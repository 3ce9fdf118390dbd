// SPDX-License-Identifier: MIT
#pragma once
// Kept for one release: this header moved to <pdml/cuda/core/blas_ops.hpp> when the CUDA tree was laid
// out by the layers of include/pdml (docs/cuda.md, "Layout").
#include "pdml/cuda/core/blas_ops.hpp"
