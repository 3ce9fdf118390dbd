#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The installed package as consumers see it. Installs pdml (a small configure:
# no tests, benchmarks, examples or tools; CUDA as found, to show the package
# does not depend on it) into build/consumers/prefix, then builds and runs four
# consumers from the installed tree (tests/consumers/):
#   (a) CMake, CPU only, with the CUDA toolkit and OpenMP unfindable and nvcc off PATH,
#   (b) CMake with COMPONENTS openmp and pdml::openmp,
#   (c) pkg-config with a plain Makefile,
#   (d) a bare `g++ -I` compile, no build system;
# checks the package's components (cuda, openmp, unknown ones), the version
# file, that the demo configures without the test-only packages, and that
# `cpack -G DEB` packs the headers and the CMake and pkg-config files.
set -euo pipefail
source scripts/env.sh
root=$PWD
work=build/consumers
rm -rf "$work"
mkdir -p "$work"
prefix=$root/$work/prefix
cxx_flags="-O1"  # the consumers are tiny; keep their compiles quick

echo "-- install"
cmake -S . -B "$work/pdml" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
  -DPDML_BUILD_TESTS=OFF -DPDML_BUILD_BENCHMARKS=OFF -DPDML_BUILD_EXAMPLES=OFF -DPDML_BUILD_TOOLS=OFF \
  >"$work/pdml-configure.log"
cmake --install "$work/pdml" >"$work/install.log"
test -f "$prefix/include/pdml/pdml.hpp"
test -f "$prefix/include/pdml/version.hpp"
test -f "$prefix/include/pdml/cuda/losses/el_nivmf_loss.hpp"
test -f "$prefix/share/cmake/pdml/pdmlConfig.cmake"
test -f "$prefix/share/cmake/pdml/pdmlConfigVersion.cmake"
test -f "$prefix/share/pkgconfig/pdml.pc"
if grep -En "CUDAToolkit|OpenMP::|-fopenmp([^-]|$)" "$prefix/share/cmake/pdml/pdmlTargets.cmake"; then
  echo "pdmlTargets.cmake mentions CUDA or the OpenMP runtime" >&2
  exit 1
fi
# The installed files do not depend on what the installing machine had: an
# install from a configure without CUDA and without OpenMP is identical.
cmake -S . -B "$work/pdml-bare" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$root/$work/prefix-bare" \
  -DPDML_BUILD_TESTS=OFF -DPDML_BUILD_BENCHMARKS=OFF -DPDML_BUILD_EXAMPLES=OFF -DPDML_BUILD_TOOLS=OFF \
  -DPDML_BUILD_CUDA=OFF -DCMAKE_DISABLE_FIND_PACKAGE_OpenMP=ON >"$work/pdml-bare-configure.log"
cmake --install "$work/pdml-bare" >"$work/install-bare.log"
diff -r "$prefix" "$work/prefix-bare"

# (a) CPU only: no nvcc on PATH, CUDAToolkit and OpenMP unfindable.
echo "-- (a) CMake consumer, CPU only"
cpu_path=""
IFS=: read -ra path_dirs <<<"$PATH"
for dir in "${path_dirs[@]}"; do
  [[ -x "$dir/nvcc" ]] || cpu_path+="${cpu_path:+:}$dir"
done
if PATH=$cpu_path command -v nvcc >/dev/null 2>&1; then
  echo "nvcc is still on PATH for consumer (a)" >&2
  exit 1
fi
PATH=$cpu_path cmake -S tests/consumers/cmake_cpu -B "$work/cmake_cpu" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_CXX_FLAGS="$cxx_flags" -DCMAKE_DISABLE_FIND_PACKAGE_CUDAToolkit=ON \
  -DCMAKE_DISABLE_FIND_PACKAGE_OpenMP=ON >"$work/cmake_cpu-configure.log" 2>&1
# CMake lists a -D it never read: neither package was even looked for.
for package in CUDAToolkit OpenMP; do
  grep -q "^ *CMAKE_DISABLE_FIND_PACKAGE_$package\$" "$work/cmake_cpu-configure.log" ||
    { echo "find_package(pdml) looked for $package" >&2; cat "$work/cmake_cpu-configure.log" >&2; exit 1; }
done
PATH=$cpu_path cmake --build "$work/cmake_cpu" -j "$PDML_JOBS"
"$work/cmake_cpu/consumer_cpu"
if readelf -d "$work/cmake_cpu/consumer_cpu" | grep -E "NEEDED.*(gomp|omp|cudart|cublas)"; then
  echo "consumer (a) links an OpenMP or CUDA runtime" >&2
  exit 1
fi

# (b) OpenMP on through pdml::openmp.
echo "-- (b) CMake consumer, pdml::openmp"
cmake -S tests/consumers/cmake_openmp -B "$work/cmake_openmp" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_CXX_FLAGS="$cxx_flags" >"$work/cmake_openmp-configure.log"
cmake --build "$work/cmake_openmp" -j "$PDML_JOBS"
OMP_NUM_THREADS=4 "$work/cmake_openmp/consumer_openmp"

# (c) pkg-config and plain Make.
echo "-- (c) pkg-config + make"
export PKG_CONFIG_PATH="$prefix/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
[[ "$(pkg-config --modversion pdml)" == "$(sed -n 's/^#define PDML_VERSION_STRING "\(.*\)"/\1/p' include/pdml/version.hpp)" ]]
pc_include=$(pkg-config --variable=includedir pdml)
[[ "$(realpath "$pc_include")" == "$(realpath "$prefix/include")" ]]
mkdir -p "$work/pkgconfig"
make -s -f tests/consumers/pkgconfig/Makefile OUT="$work/pkgconfig" CXXFLAGS="$cxx_flags"
"$work/pkgconfig/consumer_pkgconfig"

# (d) header-only: the installed include directory and Eigen, nothing else.
echo "-- (d) g++ -I, no build system"
mkdir -p "$work/header_only"
"${CXX:-g++}" -std=c++17 $cxx_flags -Wall -Wextra -Wpedantic -Werror \
  -I"$prefix/include" -I/usr/include/eigen3 -Itests/consumers/common \
  tests/consumers/header_only/main.cpp -o "$work/header_only/consumer_header_only"
"$work/header_only/consumer_header_only"

# Components: unknown ones fail, cuda needs the toolkit (only when asked for),
# optional components do not fail.
echo "-- package components"
components() {  # components <name> <cmake args...>
  local name=$1
  shift
  cmake -S tests/consumers/components -B "$work/components-$name" -DCMAKE_PREFIX_PATH="$prefix" "$@" \
    >"$work/components-$name.log" 2>&1
}
if components unknown -DPDML_COMPONENTS=no_such_component; then
  echo "find_package(pdml COMPONENTS no_such_component) succeeded" >&2
  exit 1
fi
grep -q "no component 'no_such_component'" "$work/components-unknown.log"
if PATH=$cpu_path components cuda-missing -DPDML_COMPONENTS=cuda -DCMAKE_DISABLE_FIND_PACKAGE_CUDAToolkit=ON; then
  echo "COMPONENTS cuda succeeded without the CUDA toolkit" >&2
  exit 1
fi
PATH=$cpu_path components cuda-optional -DPDML_OPTIONAL_COMPONENTS=cuda \
  -DCMAKE_DISABLE_FIND_PACKAGE_CUDAToolkit=ON -DEXPECT_MISSING=pdml::cuda
grep -q "pdml_cuda_FOUND=FALSE\|pdml_cuda_FOUND=$" "$work/components-cuda-optional.log"
components openmp -DPDML_COMPONENTS=openmp "-DEXPECT_TARGETS=pdml::pdml;pdml::openmp" -DEXPECT_MISSING=pdml::cuda
if command -v nvcc >/dev/null 2>&1; then
  components cuda "-DPDML_COMPONENTS=cuda" "-DEXPECT_TARGETS=pdml::cuda;CUDA::cudart;CUDA::cublas"
  echo "COMPONENTS cuda found the toolkit and defined pdml::cuda"
else
  echo "nvcc not found: COMPONENTS cuda with a toolkit not checked"
fi
# The version file: 0.1 is accepted, another major version is not.
components version -DPDML_VERSION_REQUEST=0.1
if components wrong-version -DPDML_VERSION_REQUEST=99; then
  echo "find_package(pdml 99) succeeded" >&2
  exit 1
fi

# The demo configures without Catch2, Google Benchmark, Boost or LibTorch.
echo "-- demo dependencies"
cmake -S . -B "$work/demo" -DCMAKE_BUILD_TYPE=Release -DPDML_BUILD_TESTS=OFF -DPDML_BUILD_BENCHMARKS=OFF \
  -DPDML_BUILD_EXAMPLES=ON -DPDML_BUILD_CUDA=OFF -DCMAKE_DISABLE_FIND_PACKAGE_Catch2=ON \
  -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON -DCMAKE_DISABLE_FIND_PACKAGE_Boost=ON \
  -DCMAKE_DISABLE_FIND_PACKAGE_Torch=ON >"$work/demo-configure.log" 2>&1
cmake --build "$work/demo" --target help >"$work/demo-targets.txt"
grep -q fashion_mnist "$work/demo-targets.txt"

# The Debian package.
echo "-- cpack -G DEB"
(cd "$work/pdml" && cpack -G DEB >"$root/$work/cpack.log")
deb=$(ls "$work"/pdml/libpdml-dev_*_all.deb)
dpkg-deb -c "$deb" >"$work/deb-contents.txt"
for path in ./usr/include/pdml/pdml.hpp ./usr/include/pdml/version.hpp ./usr/include/pdml/cuda/losses/el_nivmf_loss.hpp \
            ./usr/share/cmake/pdml/pdmlConfig.cmake ./usr/share/cmake/pdml/pdmlTargets.cmake \
            ./usr/share/pkgconfig/pdml.pc; do
  grep -q " $path\$" "$work/deb-contents.txt" || { echo "$deb lacks $path" >&2; exit 1; }
done
[[ "$(dpkg-deb -f "$deb" Architecture)" == all ]]
dpkg-deb -f "$deb" Depends | grep -q libeigen3-dev
echo "$deb: $(grep -c '\.hpp$' "$work/deb-contents.txt") headers, Architecture all, Depends $(dpkg-deb -f "$deb" Depends)"
echo "consumers: all passed"
