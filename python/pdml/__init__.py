# SPDX-License-Identifier: MIT
"""pdml for PyTorch: the EL-nivMF criterion of "A Non-isotropic Probabilistic Take on
Proxy-based Deep Metric Learning" (ECCV 2022), vMF-family distributions with exact
reparameterized gradients, differentiable Bessel functions and retrieval metrics, all
computed by the pdml C++ library (docs/python.md)."""
from . import distributed, functional
from .distributed import ShardedElNivmfLoss
from .distributions import NonIsotropicVonMisesFisher, PowerSpherical, VonMisesFisher
from .evaluation import evaluate_retrieval
from .loss import ElNivmfLoss
from .special import bessel_i_ratio, log_bessel_i, vmf_log_normalizer

__all__ = [
    "ElNivmfLoss",
    "ShardedElNivmfLoss",
    "distributed",
    "functional",
    "VonMisesFisher",
    "PowerSpherical",
    "NonIsotropicVonMisesFisher",
    "log_bessel_i",
    "bessel_i_ratio",
    "vmf_log_normalizer",
    "evaluate_retrieval",
]
__version__ = "0.1.0"
