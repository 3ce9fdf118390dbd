// SPDX-License-Identifier: MIT
#pragma once
// Kept for one release: this header moved to <pdml/cuda/similarities/el_nivmf_similarity.hpp> when the CUDA tree was laid
// out by the layers of include/pdml (docs/cuda.md, "Layout").
#include "pdml/cuda/similarities/el_nivmf_similarity.hpp"
