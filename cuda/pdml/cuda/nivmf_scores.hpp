// SPDX-License-Identifier: MIT
#pragma once
// Kept for one release: this header moved to <pdml/cuda/similarities/nivmf_scores.hpp> when the CUDA tree was laid
// out by the layers of include/pdml (docs/cuda.md, "Layout").
#include "pdml/cuda/similarities/nivmf_scores.hpp"
