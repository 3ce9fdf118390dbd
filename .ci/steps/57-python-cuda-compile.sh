#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Python package's CUDA glue, compiled but not linked or run (CI has no GPU and Debian's
# torch has no CUDA): python/src/pdml_cuda.cu by nvcc into an object file, and
# python/src/pdml_ext.cpp with -DPDML_WITH_CUDA (its CUDA dispatch) by g++ -fsyntax-only,
# both against the torch headers of Debian's libtorch-dev and with warnings as errors, so a
# typo in either cannot land. Skipped when nvcc or the torch headers are absent. About two
# minutes of one core (bounded by a 15-minute timeout).
#
# One shim: libtorch-dev is a CPU-only build and does not ship the header that torch's CMake
# generates for c10's CUDA library, c10/cuda/impl/cuda_cmake_macros.h (included by
# c10/cuda/CUDAMacros.h). Its whole content is one macro, C10_CUDA_BUILD_SHARED_LIBS (torch's
# libraries are shared), so the step writes that header into its build directory. No warning
# is suppressed: the torch headers are system headers (-isystem), as for any consumer, and
# warnings in pdml's and the package's own code are errors (nvcc -Werror all-warnings and the
# host compiler's -Wall -Wextra -Werror).
set -euo pipefail
source scripts/env.sh
if ! command -v nvcc >/dev/null 2>&1; then
  echo "nvcc not found: Python CUDA glue not compiled"
  exit 0
fi
if [[ ! -f /usr/include/ATen/cuda/CUDAContext.h || ! -d /usr/include/torch/csrc/api/include ]]; then
  echo "torch headers (libtorch-dev) not found: Python CUDA glue not compiled"
  exit 0
fi
python="${PDML_PYTHON:-/usr/bin/python3}"
work=build/ci-python-cuda
rm -rf "$work"
mkdir -p "$work/shim/c10/cuda/impl"
printf '%s\n' '#pragma once' '#define C10_CUDA_BUILD_SHARED_LIBS' \
  >"$work/shim/c10/cuda/impl/cuda_cmake_macros.h"
python_include="$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
torch_includes=(-isystem "$work/shim" -isystem /usr/include/torch/csrc/api/include)
pdml_includes=(-I include -I cuda -I /usr/include/eigen3)

# The __CUDA_NO_HALF* defines are the ones torch's CUDAExtension passes to nvcc by default.
timeout 900 nvcc -std=c++17 --expt-relaxed-constexpr -O1 -arch=sm_80 -Werror all-warnings \
  -D__CUDA_NO_HALF_OPERATORS__ -D__CUDA_NO_HALF_CONVERSIONS__ -D__CUDA_NO_BFLOAT16_CONVERSIONS__ \
  -D__CUDA_NO_HALF2_OPERATORS__ -DPDML_WITH_CUDA=1 \
  -Xcompiler -fPIC,-Wall,-Wextra,-Werror "${torch_includes[@]}" "${pdml_includes[@]}" \
  -c python/src/pdml_cuda.cu -o "$work/pdml_cuda.o"
echo "python/src/pdml_cuda.cu compiled with $(nvcc --version | tail -1)"

timeout 900 g++ -std=c++17 -fsyntax-only -fopenmp -Wall -Wextra -Werror -DPDML_WITH_CUDA=1 \
  -DTORCH_EXTENSION_NAME=_C -DTORCH_API_INCLUDE_EXTENSION_H -DEIGEN_NO_DEBUG \
  "${torch_includes[@]}" -isystem "$python_include" "${pdml_includes[@]}" \
  python/src/pdml_ext.cpp
echo "python/src/pdml_ext.cpp (PDML_WITH_CUDA) compiled by $(g++ --version | head -1)"
