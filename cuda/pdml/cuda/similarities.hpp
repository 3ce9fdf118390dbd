// SPDX-License-Identifier: MIT
#pragma once
// Kept for one release: this header moved to <pdml/cuda/similarities/similarities.hpp> when the CUDA tree was laid
// out by the layers of include/pdml (docs/cuda.md, "Layout").
#include "pdml/cuda/similarities/similarities.hpp"
#include "pdml/cuda/losses/proxy_losses.hpp"
