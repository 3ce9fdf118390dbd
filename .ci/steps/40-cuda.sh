#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every CUDA target compiled by nvcc (no GPU needed), reusing scripts/test's build tree.
set -euo pipefail
source scripts/env.sh
if ! command -v nvcc >/dev/null 2>&1; then
  echo "nvcc not found: CUDA targets not built"
  exit 0
fi
cmake --build build/test --target pdml_cuda_all -j "$PDML_JOBS"
echo "CUDA targets built with $(nvcc --version | tail -1)"
