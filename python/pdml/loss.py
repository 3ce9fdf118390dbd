# SPDX-License-Identifier: MIT
"""pdml.ElNivmfLoss: the paper's criterion as an nn.Module with its parameters."""
import math

import torch
from torch import nn

from . import _C
from ._common import check_labels, check_tensor
from .functional import el_nivmf_loss, loss_options

# The paper's learning-rate multipliers (README of the authors' code, Cars196 run:
# --loss_proxyvmf_proxylrmulti 7500 --loss_proxyvmf_conclrmulti 7500 --loss_proxyvmf_templrmulti 200).
PAPER_PROXY_LR_MULT = 7500.0
PAPER_KAPPA_LR_MULT = 7500.0
PAPER_TEMPERATURE_LR_MULT = 200.0


class ElNivmfLoss(nn.Module):
    """L = Proxy-NCA(EL-nivMF similarities / T) + guidance_weight x ProxyAnchor.

    Parameters: `proxies` (C x D, directions; any nonzero length), `kappas` (C x D nivMF
    concentrations, clamped below at min_kappa inside the loss) and `log_temperature`
    (scalar; T = exp(log_temperature) stays positive under any optimizer step).
    """

    def __init__(self, num_classes, embedding_dim, *, n_samples=5, guidance_weight=0.0, init_kappa=16.0,
                 init_temperature=0.05, min_kappa=0.1, scoring="paper_rule", proxy_anchor_alpha=32.0,
                 proxy_anchor_delta=0.1, reduction="mean", ignore_index=None, dtype=None):
        super().__init__()
        if int(num_classes) != num_classes or num_classes < 1:
            raise ValueError(f"pdml.ElNivmfLoss: argument 'num_classes' must be a positive int, got {num_classes}")
        if int(embedding_dim) != embedding_dim or embedding_dim < 2:
            raise ValueError(f"pdml.ElNivmfLoss: argument 'embedding_dim' must be an int >= 2, got {embedding_dim}")
        if not (init_kappa > 0 and math.isfinite(init_kappa)):
            raise ValueError(f"pdml.ElNivmfLoss: argument 'init_kappa' must be positive and finite, got {init_kappa}")
        if not (init_temperature > 0 and math.isfinite(init_temperature)):
            raise ValueError(
                f"pdml.ElNivmfLoss: argument 'init_temperature' must be positive and finite, got {init_temperature}")
        # Validates every option now rather than at the first forward.
        loss_options(n_samples, guidance_weight, min_kappa, scoring, proxy_anchor_alpha, proxy_anchor_delta,
                     reduction, ignore_index, fn="ElNivmfLoss")
        dtype = dtype or torch.get_default_dtype()
        self.n_samples = n_samples
        self.guidance_weight = float(guidance_weight)
        self.init_kappa = float(init_kappa)
        self.min_kappa = float(min_kappa)
        self.scoring = scoring
        self.proxy_anchor_alpha = float(proxy_anchor_alpha)
        self.proxy_anchor_delta = float(proxy_anchor_delta)
        self.reduction = reduction
        self.ignore_index = None if ignore_index is None else int(ignore_index)
        proxies = torch.randn(num_classes, embedding_dim, dtype=dtype)
        self.proxies = nn.Parameter(proxies / proxies.norm(dim=1, keepdim=True))
        self.kappas = nn.Parameter(torch.full((num_classes, embedding_dim), float(init_kappa), dtype=dtype))
        self.log_temperature = nn.Parameter(torch.tensor(math.log(init_temperature), dtype=dtype))

    @property
    def temperature(self):
        return self.log_temperature.exp()

    def forward(self, embeddings, labels, *, samples=None, generator=None, check_device_status=False):
        return el_nivmf_loss(
            embeddings, labels, self.proxies, self.kappas, self.log_temperature.exp(),
            n_samples=self.n_samples, guidance_weight=self.guidance_weight, min_kappa=self.min_kappa,
            scoring=self.scoring, proxy_anchor_alpha=self.proxy_anchor_alpha,
            proxy_anchor_delta=self.proxy_anchor_delta, samples=samples, generator=generator,
            reduction=self.reduction, ignore_index=self.ignore_index, check_device_status=check_device_status,
        )

    @torch.no_grad()
    def warm_start(self, embeddings, labels, initial_kappa=None):
        """The paper's --warmstart: proxy c becomes the normalized mean of the class-c
        embeddings and its concentrations initial_kappa (init_kappa by default); classes absent
        from `labels` keep their values. Returns the number of classes set.

        Runs on the CPU (pdml::cuda has no warm start): CUDA inputs and parameters are copied
        to the CPU and the results back, which gives the same values."""
        fn = "ElNivmfLoss.warm_start"
        check_tensor("embeddings", embeddings, fn, cuda=True)
        labels = check_labels(labels, fn, cuda=True).cpu()
        kappa = self.init_kappa if initial_kappa is None else float(initial_kappa)
        embeddings = embeddings.detach().to("cpu", self.proxies.dtype).contiguous()
        proxies = self.proxies.data.to("cpu").contiguous()
        kappas = self.kappas.data.to("cpu").contiguous()
        count = _C.warm_start(embeddings, labels, kappa, proxies, kappas, self.ignore_index)
        self.proxies.data.copy_(proxies)
        self.kappas.data.copy_(kappas)
        return int(count)

    def param_groups(self, lr, proxy_lr_mult=PAPER_PROXY_LR_MULT, kappa_lr_mult=PAPER_KAPPA_LR_MULT,
                     temperature_lr_mult=PAPER_TEMPERATURE_LR_MULT):
        """Optimizer parameter groups with the paper's learning-rate multipliers (relative to
        the network's learning rate `lr`)."""
        return [
            {"params": [self.proxies], "lr": lr * proxy_lr_mult, "name": "proxies"},
            {"params": [self.kappas], "lr": lr * kappa_lr_mult, "name": "kappas"},
            {"params": [self.log_temperature], "lr": lr * temperature_lr_mult, "name": "log_temperature"},
        ]

    def extra_repr(self):
        c, d = self.proxies.shape
        return (f"num_classes={c}, embedding_dim={d}, n_samples={self.n_samples}, "
                f"guidance_weight={self.guidance_weight}, min_kappa={self.min_kappa}, scoring={self.scoring!r}, "
                f"reduction={self.reduction!r}, ignore_index={self.ignore_index}")
