# SPDX-License-Identifier: MIT
"""Differentiable special functions: log I_v(x), I_{v+1}(x)/I_v(x) and the vMF
log-normalizer log C_p(kappa), elementwise with broadcasting. Values and derivatives
come from pdml's C++ implementations (exact to double precision, docs/math.md)."""
import torch

from . import _C
from ._common import check_tensor

# Indices of pdml._C.special (the C++ enum Special, in order).
LOG_BESSEL_I = 0
BESSEL_I_RATIO = 1
BESSEL_I_RATIO_DERIVATIVE = 2
VMF_LOG_NORMALIZER = 3
VMF_MEAN_RESULTANT = 4
VMF_MEAN_RESULTANT_DERIVATIVE = 5
VMF_ENTROPY = 6
VMF_ENTROPY_DERIVATIVE = 7
POWER_SPHERICAL_ENTROPY = 8
POWER_SPHERICAL_ENTROPY_DERIVATIVE = 9
POWER_SPHERICAL_MEAN_RESULTANT = 10
POWER_SPHERICAL_MEAN_RESULTANT_DERIVATIVE = 11


def _raw(which, a, x):
    return _C.special(which, a.contiguous(), x.contiguous())


class _Special(torch.autograd.Function):
    """f(a, x) with df/dx = derivative(a, x) (-derivative when negate); no gradient in a."""

    @staticmethod
    def forward(ctx, which, derivative, negate, a, x):
        ctx.derivative, ctx.negate = derivative, negate
        ctx.save_for_backward(a, x)
        return _raw(which, a, x)

    @staticmethod
    def backward(ctx, grad):
        a, x = ctx.saved_tensors
        grad_x = None
        if ctx.needs_input_grad[4]:
            d = _raw(ctx.derivative, a, x)
            grad_x = grad * (-d if ctx.negate else d)
        return None, None, None, None, grad_x


class _LogBesselI(torch.autograd.Function):
    """d/dx log I_v(x) = v / x + I_{v+1}(x) / I_v(x) (0 at v = x = 0)."""

    @staticmethod
    def forward(ctx, v, x):
        ctx.save_for_backward(v, x)
        return _raw(LOG_BESSEL_I, v, x)

    @staticmethod
    def backward(ctx, grad):
        v, x = ctx.saved_tensors
        if not ctx.needs_input_grad[1]:
            return None, None
        ratio = _raw(BESSEL_I_RATIO, v, x)
        v_over_x = torch.where(v == 0, torch.zeros_like(v), v / x)
        return None, grad * (v_over_x + ratio)


def _operands(fn, first_name, first, x):
    x = check_tensor("x" if fn != "vmf_log_normalizer" else "kappa", x, fn, cuda=True)
    if not isinstance(first, torch.Tensor):
        first = torch.tensor(first, dtype=x.dtype, device=x.device)
    elif first.requires_grad:
        raise ValueError(f"pdml.{fn}: no gradient with respect to '{first_name}' (it must not require grad)")
    first = first.to(x.dtype)
    first, x = torch.broadcast_tensors(first, x)
    return first.contiguous(), x.contiguous()


def log_bessel_i(v, x):
    """log I_v(x), elementwise (broadcasting), differentiable in x. v >= 0, x >= 0; NaN for
    negative input, -inf at x = 0 for v > 0."""
    v, x = _operands("log_bessel_i", "v", v, x)
    return _LogBesselI.apply(v, x)


def bessel_i_ratio(v, x):
    """I_{v+1}(x) / I_v(x) in [0, 1), elementwise (broadcasting), differentiable in x."""
    v, x = _operands("bessel_i_ratio", "v", v, x)
    return _Special.apply(BESSEL_I_RATIO, BESSEL_I_RATIO_DERIVATIVE, False, v, x)


def _dimension(fn, p):
    if isinstance(p, torch.Tensor):
        if p.numel() != 1:
            raise ValueError(f"pdml.{fn}: argument 'p' must be one integer dimension")
        p = p.item()
    if isinstance(p, bool) or int(p) != p or p < 2:
        raise ValueError(f"pdml.{fn}: argument 'p' must be an integer >= 2 (the sphere S^(p-1)), got {p}")
    return int(p)


def vmf_log_normalizer(p, kappa):
    """log C_p(kappa) of vMF on S^(p-1) (surface measure), elementwise in kappa (>= 0),
    differentiable: d/dkappa log C_p = -A_p(kappa)."""
    p = _dimension("vmf_log_normalizer", p)
    p_t, kappa = _operands("vmf_log_normalizer", "p", p, kappa)
    return _Special.apply(VMF_LOG_NORMALIZER, VMF_MEAN_RESULTANT, True, p_t, kappa)


def dimension_function(value_index, derivative_index, p, kappa):
    """An internal dimension-indexed function of kappa (entropies, mean resultants)."""
    p_t = torch.full_like(kappa, float(p)).contiguous()
    return _Special.apply(value_index, derivative_index, False, p_t, kappa.contiguous())
