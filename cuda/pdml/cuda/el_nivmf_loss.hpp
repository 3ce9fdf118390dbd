// SPDX-License-Identifier: MIT
#pragma once
// Kept for one release: this header moved to <pdml/cuda/losses/el_nivmf_loss.hpp> when the CUDA tree was laid
// out by the layers of include/pdml (docs/cuda.md, "Layout").
#include "pdml/cuda/losses/el_nivmf_loss.hpp"
