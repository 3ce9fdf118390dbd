#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The tests built with clang++ (warnings are errors there too).
set -euo pipefail
source scripts/env.sh
if ! command -v clang++ >/dev/null 2>&1; then
  echo "clang++ not found: clang build skipped"
  exit 0
fi
CXX=clang++ cmake -S . -B build/clang -DCMAKE_BUILD_TYPE=Release -DPDML_WERROR=ON \
  -DPDML_BUILD_BENCHMARKS=OFF -DPDML_BUILD_EXAMPLES=OFF -DPDML_BUILD_CUDA=OFF -DPDML_BUILD_TOOLS=OFF
cmake --build build/clang -j "$PDML_JOBS"
ctest --test-dir build/clang --output-on-failure -j "$PDML_JOBS"
