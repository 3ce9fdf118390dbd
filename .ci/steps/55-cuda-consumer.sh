#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The installed pdml::cuda from a consumer's side: install pdml (header-only, so
# configure + install, nothing to compile) to a prefix, then build
# tests/consumers/cuda with find_package(pdml CONFIG REQUIRED COMPONENTS cuda)
# and nvcc -Werror all-warnings, adding no pdml-specific flag. One small .cu
# for one architecture: well under a minute. Skipped when nvcc is absent.
set -euo pipefail
source scripts/env.sh
if ! command -v nvcc >/dev/null 2>&1; then
  echo "nvcc not found: CUDA consumer not built"
  exit 0
fi
work=build/ci-cuda-consumer
rm -rf "$work/prefix" "$work/consumer"
cmake -S . -B "$work/pdml" -DCMAKE_BUILD_TYPE=Release -DPDML_BUILD_CUDA=ON \
  -DPDML_BUILD_TESTS=OFF -DPDML_BUILD_BENCHMARKS=OFF -DPDML_BUILD_EXAMPLES=OFF \
  -DPDML_BUILD_TOOLS=OFF >"$work.configure.log" 2>&1 || { cat "$work.configure.log"; exit 1; }
cmake --install "$work/pdml" --prefix "$PWD/$work/prefix" >/dev/null
cmake -S tests/consumers/cuda -B "$work/consumer" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$PWD/$work/prefix" -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DCMAKE_CUDA_FLAGS="-Werror all-warnings" >"$work.consumer-configure.log" 2>&1 ||
  { cat "$work.consumer-configure.log"; exit 1; }
cmake --build "$work/consumer" -j "$PDML_JOBS"
"$work/consumer/cuda_consumer"
echo "CUDA consumer built from the installed package with $(nvcc --version | tail -1)"
