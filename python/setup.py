# SPDX-License-Identifier: MIT
"""Builds the `pdml` PyTorch extension from the project's headers (../include).

CPU: one C++ translation unit (src/pdml_ext.cpp). When the installed torch has CUDA
(torch.version.cuda is set) and a CUDA toolkit is found (torch's CUDA_HOME: $CUDA_HOME or the
nvcc on PATH), the extension is a CUDAExtension that adds src/pdml_cuda.cu (pdml::cuda on
torch's current stream and cuBLAS handle) and defines PDML_WITH_CUDA; PDML_CUDA=0 forces the
CPU-only build. See docs/python.md.
"""
import os

from setuptools import setup
import torch
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension

HERE = os.path.dirname(os.path.abspath(__file__))


def first_existing(candidates):
    for path in candidates:
        if path and os.path.isfile(os.path.join(path, "pdml", "pdml.hpp")):
            return path
    raise RuntimeError(
        "pdml headers not found: build from the pdml source tree (python/ next to include/) "
        "or set PDML_INCLUDE_DIR"
    )


def eigen_include():
    for path in (os.environ.get("EIGEN3_INCLUDE_DIR"), "/usr/include/eigen3", "/usr/local/include/eigen3"):
        if path and os.path.isdir(os.path.join(path, "Eigen")):
            return path
    raise RuntimeError("Eigen 3 headers not found: install libeigen3-dev or set EIGEN3_INCLUDE_DIR")


pdml_include = first_existing([os.environ.get("PDML_INCLUDE_DIR"), os.path.join(HERE, "..", "include")])

compile_args = ["-O3", "-g0", "-std=c++17", "-Wall", "-Wextra", "-fopenmp", "-DEIGEN_NO_DEBUG"]
if os.environ.get("PDML_NATIVE") == "1":  # tune for this machine's CPU (not portable)
    compile_args.append("-march=native")

with_cuda = torch.version.cuda is not None and CUDA_HOME is not None and os.environ.get("PDML_CUDA") != "0"

if not with_cuda:
    extension = CppExtension(
        name="pdml._C",
        sources=[os.path.join("src", "pdml_ext.cpp")],
        include_dirs=[pdml_include, eigen_include()],
        # The project's warning discipline; no -Werror because torch's own headers warn.
        extra_compile_args=compile_args,
        extra_link_args=["-fopenmp"],
    )
else:
    from torch.utils.cpp_extension import CUDAExtension

    # pdml::cuda's headers live in ../cuda; they need C++17 and --expt-relaxed-constexpr (the
    # flags of the pdml::cuda targets, docs/cuda.md) and link cuBLAS. The GPU architectures
    # are torch's choice (TORCH_CUDA_ARCH_LIST, else the visible GPUs').
    pdml_cuda_include = os.environ.get("PDML_CUDA_INCLUDE_DIR") or os.path.normpath(
        os.path.join(pdml_include, "..", "cuda"))
    if not os.path.isfile(os.path.join(pdml_cuda_include, "pdml", "cuda", "el_nivmf_loss.hpp")):
        raise RuntimeError("pdml::cuda headers not found: build from the pdml source tree (python/ next to "
                           "cuda/), set PDML_CUDA_INCLUDE_DIR, or PDML_CUDA=0 for a CPU-only build")
    extension = CUDAExtension(
        name="pdml._C",
        sources=[os.path.join("src", "pdml_ext.cpp"), os.path.join("src", "pdml_cuda.cu")],
        include_dirs=[pdml_include, pdml_cuda_include, eigen_include()],
        define_macros=[("PDML_WITH_CUDA", "1")],
        extra_compile_args={
            "cxx": compile_args,
            "nvcc": ["-O3", "-std=c++17", "--expt-relaxed-constexpr", "-DEIGEN_NO_DEBUG"],
        },
        libraries=["cublas"],
        extra_link_args=["-fopenmp"],
    )

setup(
    name="pdml",
    version="0.1.0",
    description="Non-isotropic probabilistic proxy-based deep metric learning (EL-nivMF) for PyTorch",
    license="MIT",
    packages=["pdml"],
    ext_modules=[extension],
    cmdclass={"build_ext": BuildExtension},
    python_requires=">=3.8",
)
