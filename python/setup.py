# SPDX-License-Identifier: MIT
"""Builds the `pdml` PyTorch extension from the project's headers (../include).

CPU: one C++ translation unit (src/pdml_ext.cpp). CUDA sources would be added only when the
installed torch has CUDA and nvcc is present; this package ships none yet, so CUDA tensors
are rejected with a clear error (see docs/python.md).
"""
import os

from setuptools import setup
from torch.utils.cpp_extension import BuildExtension, CppExtension

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

extension = CppExtension(
    name="pdml._C",
    sources=[os.path.join("src", "pdml_ext.cpp")],
    include_dirs=[pdml_include, eigen_include()],
    # The project's warning discipline; no -Werror because torch's own headers warn.
    extra_compile_args=compile_args,
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
