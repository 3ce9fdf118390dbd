# SPDX-License-Identifier: MIT
"""The EL-nivMF criterion as a function: Proxy-NCA over EL-nivMF similarities plus
guidance_weight x ProxyAnchor (pdml::ElNivmfLoss, docs/api.md), and the EL-nivMF
similarity matrix on its own."""
import torch

from . import _C
from ._common import check_labels, check_same_dtype, check_temperature, check_tensor, random_key

REDUCTIONS = ("mean", "sum", "none")


def loss_options(n_samples, guidance_weight, min_kappa, scoring, proxy_anchor_alpha, proxy_anchor_delta,
                 reduction="mean", ignore_index=None, fn="el_nivmf_loss"):
    """Validated C++ options (ValueError naming the option on bad values)."""
    if isinstance(n_samples, bool) or not isinstance(n_samples, int):
        raise TypeError(f"pdml.{fn}: argument 'n_samples' must be an int, got {type(n_samples).__name__}")
    if not isinstance(scoring, str):
        raise TypeError(f"pdml.{fn}: argument 'scoring' must be a str")
    if reduction not in REDUCTIONS:
        raise ValueError(f"pdml.{fn}: argument 'reduction' must be one of {REDUCTIONS}, got {reduction!r}")
    if ignore_index is not None and (isinstance(ignore_index, bool) or int(ignore_index) != ignore_index):
        raise TypeError(f"pdml.{fn}: argument 'ignore_index' must be an int or None, got {ignore_index!r}")
    options = _C.LossOptions(
        n_samples, float(guidance_weight), float(min_kappa), scoring,
        float(proxy_anchor_alpha), float(proxy_anchor_delta), reduction,
        None if ignore_index is None else int(ignore_index),
    )
    _C.validate_loss_options(options)
    return options


class ElNivmfFunction(torch.autograd.Function):
    """Forward and backward of pdml::ElNivmfLoss; the C++ Saved state stays on ctx."""

    @staticmethod
    def forward(ctx, embeddings, proxies, kappas, temperature, samples, labels, options, seed, offset,
                status_out=None):
        # float(temperature) reads a CUDA temperature back to the host (pdml::cuda takes a host T).
        value, state, status = _C.el_nivmf_forward(
            embeddings, labels, proxies, kappas, float(temperature), options, seed, offset, samples
        )
        ctx.state = state
        ctx.temperature_dtype = temperature.dtype
        ctx.temperature_device = temperature.device
        ctx.has_samples = samples is not None
        if status_out is not None:
            status_out.append(status)
        return value

    @staticmethod
    def backward(ctx, grad_loss):
        want_samples = ctx.has_samples and ctx.needs_input_grad[4]
        grad_e, grad_p, grad_k, grad_t, grad_s = _C.el_nivmf_backward(
            ctx.state, grad_loss.detach().contiguous(), want_samples)
        return (
            grad_e if ctx.needs_input_grad[0] else None,
            grad_p if ctx.needs_input_grad[1] else None,
            grad_k if ctx.needs_input_grad[2] else None,
            grad_t.to(ctx.temperature_device, ctx.temperature_dtype) if ctx.needs_input_grad[3] else None,
            grad_s,
            None, None, None, None, None,
        )


def el_nivmf_loss(embeddings, labels, proxies, kappas, temperature, *, n_samples=5, guidance_weight=0.0,
                  min_kappa=0.1, scoring="paper_rule", proxy_anchor_alpha=32.0, proxy_anchor_delta=0.1,
                  samples=None, generator=None, reduction="mean", ignore_index=None, check_device_status=False):
    """The EL-nivMF loss, differentiable in embeddings, proxies, kappas and temperature
    (a float or a one-element tensor) and, when given, in `samples`.

    embeddings: B x D vMF natural parameters (direction = mean, norm = concentration);
    labels: B integer classes in [0, C) (int32 and int64 are read in place); proxies, kappas:
    C x D; float32 or float64 tensors, all on the CPU or all on one CUDA device.
    samples: (S B) x D, sample s of image i at row s B + i; when None, S = n_samples samples
    are drawn from vMF(embeddings) with pdml's exact sampler (and the gradient flows through the
    sampler into `embeddings`), under a key drawn from torch's generator (`generator` or the
    default one). When samples are given, embeddings only receive the ProxyAnchor term.
    reduction: "mean" (the paper's; a scalar), "sum" (B' times the mean, B' the rows kept) or
    "none" (the B per-sample Proxy-NCA losses; needs guidance_weight 0). ignore_index: rows with
    this label contribute nothing (loss 0, gradient 0) and the mean divides by the rows kept.

    CUDA tensors (all on one device) run pdml::cuda's criterion on torch's current stream
    (docs/python.md): reduction "mean" or "sum" (B times the mean), no ignore_index. The device
    does not validate values the way the CPU does; check_device_status=True reads the forward's
    device status word (one synchronization) and raises ValueError naming what was invalid
    (non-finite embeddings or proxies, a zero proxy, a label outside [0, C), a non-finite loss).
    """
    fn = "el_nivmf_loss"
    check_tensor("embeddings", embeddings, fn, cuda=True)
    check_tensor("proxies", proxies, fn, cuda=True)
    check_tensor("kappas", kappas, fn, cuda=True)
    check_same_dtype(fn, "embeddings", embeddings, proxies=proxies, kappas=kappas)
    labels = check_labels(labels, fn, cuda=True)
    if labels.device != embeddings.device:
        raise ValueError(f"pdml.{fn}: argument 'labels' is on {labels.device}, but 'embeddings' is on "
                         f"{embeddings.device}: pass every tensor on one device")
    if samples is not None:
        check_tensor("samples", samples, fn, cuda=True)
        check_same_dtype(fn, "embeddings", embeddings, samples=samples)
    temperature = check_temperature(temperature, embeddings, fn)
    scale = None
    if embeddings.is_cuda:
        if ignore_index is not None:
            raise ValueError(f"pdml.{fn}: argument 'ignore_index' is not supported for CUDA tensors "
                             "(pdml::cuda's criterion has no ignored label); filter the rows or use CPU tensors")
        if reduction == "none":
            raise ValueError(f"pdml.{fn}: argument 'reduction' \"none\" is not supported for CUDA tensors "
                             "(pdml::cuda's criterion has no per-sample losses); use CPU tensors")
        if reduction == "sum":  # B times the mean, as the CPU criterion defines it
            scale, reduction = embeddings.shape[0], "mean"
    options = loss_options(n_samples, guidance_weight, min_kappa, scoring, proxy_anchor_alpha, proxy_anchor_delta,
                           reduction, ignore_index)
    seed, offset = (0, 0) if samples is not None else random_key(generator)
    status = []
    value = ElNivmfFunction.apply(embeddings, proxies, kappas, temperature, samples, labels, options, seed, offset,
                                  status)
    if check_device_status and status[0] is not None:
        raise_on_device_status(fn, int(status[0].item()))
    return value if scale is None else value * scale


# The bits of pdml::cuda::DeviceStatus (cuda/pdml/cuda/core/device_status.hpp).
DEVICE_STATUS_BITS = (
    (1 << 0, "an embedding row with a NaN or infinite entry"),
    (1 << 1, "a proxy or concentration row with a NaN or infinite entry"),
    (1 << 2, "a proxy vector that is exactly zero"),
    (1 << 3, "a label outside [0, C)"),
    (1 << 4, "a NaN or infinite loss"),
)


def raise_on_device_status(fn, word):
    """ValueError listing what pdml::cuda's forward found invalid (nothing when word is 0)."""
    if word == 0:
        return
    found = [what for bit, what in DEVICE_STATUS_BITS if word & bit]
    raise ValueError(f"pdml.{fn}: the CUDA forward met invalid data: {'; '.join(found)} (status {word:#x})")


class ElNivmfSimilarityFunction(torch.autograd.Function):
    """pdml::el_nivmf_similarity_forward / _backward; the C++ Saved state stays on ctx."""

    @staticmethod
    def forward(ctx, samples, proxies, kappas, temperature, n_samples, min_kappa, scoring):
        sims, state = _C.el_nivmf_similarity_forward(samples, n_samples, proxies, kappas, float(min_kappa),
                                                     float(temperature), scoring)
        ctx.state = state
        ctx.temperature_dtype = temperature.dtype
        ctx.temperature_device = temperature.device
        return sims

    @staticmethod
    def backward(ctx, grad):
        grad_s, grad_p, grad_k, grad_t = _C.el_nivmf_similarity_backward(ctx.state, grad.detach().contiguous())
        needs = ctx.needs_input_grad
        return (grad_s if needs[0] else None, grad_p if needs[1] else None, grad_k if needs[2] else None,
                grad_t.to(ctx.temperature_device, ctx.temperature_dtype) if needs[3] else None, None, None, None)


def el_nivmf_similarity(samples, proxies, kappas, temperature, *, n_samples, min_kappa=0.1, scoring="paper_rule"):
    """The B x C EL-nivMF similarities sim(i, c) = log((1/S) sum_s exp(l_c(x_is) / T)) of the
    criterion (pdml::el_nivmf_similarity_forward), differentiable in samples, proxies, kappas and
    temperature. samples: (S B) x D points on the sphere, sample s of image i at row s B + i
    (e.g. pdml.VonMisesFisher(...).rsample((S,)).reshape(-1, D)); proxies: C x D (any nonzero
    length); kappas: C x D, clamped below at min_kappa; temperature: a float or a one-element
    tensor; scoring: "paper_rule" or "exact_density"."""
    fn = "el_nivmf_similarity"
    check_tensor("samples", samples, fn, cuda=True)
    check_tensor("proxies", proxies, fn, cuda=True)
    check_tensor("kappas", kappas, fn, cuda=True)
    check_same_dtype(fn, "samples", samples, proxies=proxies, kappas=kappas)
    if isinstance(n_samples, bool) or not isinstance(n_samples, int):
        raise TypeError(f"pdml.{fn}: argument 'n_samples' must be an int, got {type(n_samples).__name__}")
    if not isinstance(scoring, str):
        raise TypeError(f"pdml.{fn}: argument 'scoring' must be a str")
    temperature = check_temperature(temperature, samples, fn)
    return ElNivmfSimilarityFunction.apply(samples, proxies, kappas, temperature, n_samples, float(min_kappa),
                                           scoring)
