#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The tests again under -fsanitize=address,undefined.
set -euo pipefail
source scripts/env.sh
cmake -S . -B build/sanitize -DCMAKE_BUILD_TYPE=Debug -DPDML_WERROR=ON -DPDML_SANITIZE=ON \
  -DPDML_BUILD_BENCHMARKS=OFF -DPDML_BUILD_EXAMPLES=OFF -DPDML_BUILD_CUDA=OFF \
  -DPDML_BUILD_HEADER_TESTS=OFF -DPDML_BUILD_TOOLS=OFF -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g"
cmake --build build/sanitize -j "$PDML_JOBS"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/sanitize --output-on-failure -j "$PDML_JOBS" -LE "slow"
