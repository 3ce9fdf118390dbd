# SPDX-License-Identifier: MIT
"""The EL-nivMF criterion as a function: Proxy-NCA over EL-nivMF similarities plus
guidance_weight x ProxyAnchor (pdml::ElNivmfLoss, docs/api.md)."""
import math

import torch

from . import _C
from ._common import check_labels, check_same_dtype, check_tensor, random_key


def loss_options(n_samples, guidance_weight, min_kappa, scoring, proxy_anchor_alpha, proxy_anchor_delta):
    """Validated C++ options (ValueError naming the option on bad values)."""
    if isinstance(n_samples, bool) or not isinstance(n_samples, int):
        raise TypeError(f"pdml.el_nivmf_loss: argument 'n_samples' must be an int, got {type(n_samples).__name__}")
    if not isinstance(scoring, str):
        raise TypeError("pdml.el_nivmf_loss: argument 'scoring' must be a str")
    options = _C.LossOptions(
        n_samples, float(guidance_weight), float(min_kappa), scoring,
        float(proxy_anchor_alpha), float(proxy_anchor_delta),
    )
    _C.validate_loss_options(options)
    return options


class ElNivmfFunction(torch.autograd.Function):
    """Forward and backward of pdml::ElNivmfLoss; the C++ Saved state stays on ctx."""

    @staticmethod
    def forward(ctx, embeddings, proxies, kappas, temperature, samples, labels, options, seed, offset):
        value, state = _C.el_nivmf_forward(
            embeddings, labels, proxies, kappas, float(temperature), options, seed, offset, samples
        )
        ctx.state = state
        ctx.temperature_dtype = temperature.dtype
        ctx.has_samples = samples is not None
        return value

    @staticmethod
    def backward(ctx, grad_loss):
        want_samples = ctx.has_samples and ctx.needs_input_grad[4]
        grad_e, grad_p, grad_k, grad_t, grad_s = _C.el_nivmf_backward(ctx.state, float(grad_loss), want_samples)
        return (
            grad_e if ctx.needs_input_grad[0] else None,
            grad_p if ctx.needs_input_grad[1] else None,
            grad_k if ctx.needs_input_grad[2] else None,
            grad_t.to(ctx.temperature_dtype) if ctx.needs_input_grad[3] else None,
            grad_s,
            None, None, None, None,
        )


def el_nivmf_loss(embeddings, labels, proxies, kappas, temperature, *, n_samples=5, guidance_weight=0.0,
                  min_kappa=0.1, scoring="paper_rule", proxy_anchor_alpha=32.0, proxy_anchor_delta=0.1,
                  samples=None, generator=None):
    """The scalar EL-nivMF loss, differentiable in embeddings, proxies, kappas and temperature
    (a float or a one-element tensor) and, when given, in `samples`.

    embeddings: B x D vMF natural parameters (direction = mean, norm = concentration);
    labels: B integer classes in [0, C); proxies, kappas: C x D; float32 or float64 CPU tensors.
    samples: (S B) x D, sample s of image i at row s B + i; when None, S = n_samples samples
    are drawn from vMF(embeddings) with pdml's exact sampler (and the gradient flows through the
    sampler into `embeddings`), under a key drawn from torch's generator (`generator` or the
    default one). When samples are given, embeddings only receive the ProxyAnchor term.
    """
    fn = "el_nivmf_loss"
    check_tensor("embeddings", embeddings, fn)
    check_tensor("proxies", proxies, fn)
    check_tensor("kappas", kappas, fn)
    check_same_dtype(fn, "embeddings", embeddings, proxies=proxies, kappas=kappas)
    labels = check_labels(labels, fn)
    if samples is not None:
        check_tensor("samples", samples, fn)
        check_same_dtype(fn, "embeddings", embeddings, samples=samples)
    if isinstance(temperature, torch.Tensor):
        if temperature.numel() != 1:
            raise ValueError(f"pdml.{fn}: argument 'temperature' must have one element, got shape {tuple(temperature.shape)}")
        temperature = temperature.reshape(())
    else:
        if not isinstance(temperature, (int, float)) or isinstance(temperature, bool):
            raise TypeError(f"pdml.{fn}: argument 'temperature' must be a float or a tensor")
        if not math.isfinite(temperature):
            raise ValueError(f"pdml.{fn}: argument 'temperature' must be finite")
        temperature = torch.tensor(float(temperature), dtype=embeddings.dtype)
    options = loss_options(n_samples, guidance_weight, min_kappa, scoring, proxy_anchor_alpha, proxy_anchor_delta)
    seed, offset = (0, 0) if samples is not None else random_key(generator)
    return ElNivmfFunction.apply(embeddings, proxies, kappas, temperature, samples, labels, options, seed, offset)
