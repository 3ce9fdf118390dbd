# SPDX-License-Identifier: MIT
"""The EL-nivMF criterion written independently in plain torch ops (double), from the
paper's formulas, for D = 3 where the vMF log-normalizer has the closed form
log C_3(k) = log k - log(4 pi) - log sinh k."""
import math

import torch


def log_c3(kappa):
    # log sinh k = k + log(1 - exp(-2k)) - log 2, stable for large k
    return torch.log(kappa) - math.log(4 * math.pi) - (kappa + torch.log1p(-torch.exp(-2 * kappa)) - math.log(2))


def el_nivmf_reference(embeddings, labels, proxies, kappas, temperature, samples, *, guidance_weight=0.0,
                       min_kappa=0.1, alpha=32.0, delta=0.1):
    b, d = embeddings.shape
    assert d == 3
    n_samples = samples.shape[0] // b
    nu = proxies / proxies.norm(dim=1, keepdim=True)
    k = torch.clamp(kappas, min=min_kappa)
    u = k * nu                                    # K_c nu_c
    norm_u = u.norm(dim=1)
    offset = log_c3(norm_u) + torch.log(k).sum(dim=1) - torch.log(norm_u)  # paper's l_ref offset
    scores = samples @ u.T + offset               # (S B) x C
    scores = scores.reshape(n_samples, b, -1) / temperature
    sims = torch.logsumexp(scores, dim=0) - math.log(n_samples)            # B x C
    nca = (-sims.gather(1, labels[:, None]).squeeze(1) + torch.logsumexp(sims, dim=1)).mean()
    if guidance_weight == 0:
        return nca
    mu = embeddings / embeddings.norm(dim=1, keepdim=True)
    cos = mu @ nu.T
    classes = proxies.shape[0]
    positive = torch.nn.functional.one_hot(labels, classes).bool()
    present = positive.any(dim=0)
    pos_terms = torch.where(positive, torch.exp(-alpha * (cos - delta)), torch.zeros_like(cos)).sum(dim=0)
    neg_terms = torch.where(~positive, torch.exp(alpha * (cos + delta)), torch.zeros_like(cos)).sum(dim=0)
    anchor = torch.log1p(pos_terms)[present].sum() / present.sum() + torch.log1p(neg_terms).sum() / classes
    return nca + guidance_weight * anchor


def el_nivmf_similarity_reference(proxies, kappas, temperature, samples, n_samples, min_kappa=0.1):
    """B x C EL-nivMF similarities (D = 3, the paper's scoring rule)."""
    b = samples.shape[0] // n_samples
    nu = proxies / proxies.norm(dim=1, keepdim=True)
    k = torch.clamp(kappas, min=min_kappa)
    u = k * nu
    norm_u = u.norm(dim=1)
    offset = log_c3(norm_u) + torch.log(k).sum(dim=1) - torch.log(norm_u)
    scores = (samples @ u.T + offset).reshape(n_samples, b, -1) / temperature
    return torch.logsumexp(scores, dim=0) - math.log(n_samples)


def el_nivmf_per_sample_reference(labels, proxies, kappas, temperature, samples, n_samples):
    """The B per-sample Proxy-NCA losses -sim(i, y_i) + logsumexp_c sim(i, c)."""
    sims = el_nivmf_similarity_reference(proxies, kappas, temperature, samples, n_samples)
    return -sims.gather(1, labels[:, None]).squeeze(1) + torch.logsumexp(sims, dim=1)
