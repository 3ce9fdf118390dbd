#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Times one forward+backward step of the EL-nivMF criterion, in one process on one thread:

  module  pdml.ElNivmfLoss (autograd.Function around the C++ forward/backward), called from Python
  c++     the same C++ ElNivmfLoss step timed inside C++ (pdml._C.el_nivmf_time_step): no Python
  torch   the criterion written as vectorized PyTorch ops: Wood's rejection sampler batched over
          all (S B) draws, one GEMM for every sample-proxy score, logsumexp, ProxyAnchor, autograd

Rounds interleave the three so a shared machine's load affects them alike; the figures are
medians over rounds of process CPU time (what one unloaded core would take) and wall time.
The PyTorch peer's GEMMs run on whatever libblas.so.3 torch loads (printed): Debian's default
is the unoptimized reference BLAS; for a fair peer run with OpenBLAS, e.g.
LD_LIBRARY_PATH=<dir of OpenBLAS's libblas.so.3> OPENBLAS_NUM_THREADS=1. Usage: bench_criterion.py [--rounds R] [--quick]"""
import argparse
import math
import os
import statistics
import time

import torch

import pdml
from pdml.special import vmf_log_normalizer


def wood_sample(mu, kappa, n_samples):
    """Wood (1994) for vMF(mu_i, kappa_i) on S^(D-1), vectorized over all S B draws;
    the draws are reparameterized pathwise through the accepted proposal."""
    b_count, d = mu.shape
    m1 = d - 1.0
    mu_r = mu.repeat(n_samples, 1)
    k = kappa.repeat(n_samples)
    b = (-2 * k + torch.sqrt(4 * k * k + m1 * m1)) / m1
    x0 = (1 - b) / (1 + b)
    c = k * x0 + m1 * torch.log(1 - x0 * x0)
    rows = mu_r.shape[0]
    w = torch.empty(rows, dtype=mu.dtype)
    pending = torch.ones(rows, dtype=torch.bool)
    beta = torch.distributions.Beta(torch.tensor(m1 / 2, dtype=mu.dtype), torch.tensor(m1 / 2, dtype=mu.dtype))
    z_acc = torch.empty(rows, dtype=mu.dtype)
    while pending.any():
        idx = pending.nonzero().squeeze(1)
        z = beta.sample((idx.numel(),))
        bi, x0i, ci, ki = b[idx].detach(), x0[idx].detach(), c[idx].detach(), k[idx].detach()
        wi = (1 - (1 + bi) * z) / (1 - (1 - bi) * z)
        u = torch.rand(idx.numel(), dtype=mu.dtype)
        ok = ki * wi + m1 * torch.log(1 - x0i * wi) - ci >= torch.log(u)
        z_acc[idx[ok]] = z[ok]
        pending[idx[ok]] = False
    w = (1 - (1 + b) * z_acc) / (1 - (1 - b) * z_acc)  # differentiable in kappa through b
    v = torch.randn(rows, d, dtype=mu.dtype)
    v = v - (v * mu_r).sum(1, keepdim=True) * mu_r
    v = v / v.norm(dim=1, keepdim=True)
    return w[:, None] * mu_r + torch.sqrt(torch.clamp(1 - w * w, min=0))[:, None] * v


class TorchCriterion(torch.nn.Module):
    """The EL-nivMF criterion in PyTorch ops (the paper's scoring rule, Proxy-NCA, ProxyAnchor)."""

    def __init__(self, proxies, kappas, temperature, n_samples, guidance_weight, min_kappa=0.1,
                 alpha=32.0, delta=0.1):
        super().__init__()
        self.proxies = torch.nn.Parameter(proxies.clone())
        self.kappas = torch.nn.Parameter(kappas.clone())
        self.log_temperature = torch.nn.Parameter(torch.tensor(math.log(temperature), dtype=proxies.dtype))
        self.n_samples, self.guidance_weight = n_samples, guidance_weight
        self.min_kappa, self.alpha, self.delta = min_kappa, alpha, delta

    def forward(self, embeddings, labels):
        b, d = embeddings.shape
        kappa = embeddings.norm(dim=1)
        mu = embeddings / kappa[:, None]
        samples = wood_sample(mu, kappa, self.n_samples)              # (S B) x D
        nu = self.proxies / self.proxies.norm(dim=1, keepdim=True)
        k = torch.clamp(self.kappas, min=self.min_kappa)
        u = k * nu
        norm_u = u.norm(dim=1)
        offset = vmf_log_normalizer(d, norm_u) + torch.log(k).sum(1) - torch.log(norm_u)
        scores = (samples @ u.T + offset) / self.log_temperature.exp()  # one GEMM
        sims = torch.logsumexp(scores.view(self.n_samples, b, -1), dim=0) - math.log(self.n_samples)
        loss = torch.nn.functional.cross_entropy(sims, labels)
        if self.guidance_weight:
            cos = mu @ nu.T
            positive = torch.nn.functional.one_hot(labels, nu.shape[0]).bool()
            present = positive.any(0)
            pos = torch.where(positive, torch.exp(-self.alpha * (cos - self.delta)), torch.zeros_like(cos)).sum(0)
            neg = torch.where(~positive, torch.exp(self.alpha * (cos + self.delta)), torch.zeros_like(cos)).sum(0)
            loss = loss + self.guidance_weight * (torch.log1p(pos)[present].sum() / present.sum()
                                                  + torch.log1p(neg).sum() / nu.shape[0])
        return loss


def time_steps(step, steps):
    """(wall, process CPU) seconds per step."""
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps, (time.process_time() - cpu_start) / steps


def bench(batch, classes, dim, n_samples, rounds, steps, torch_steps):
    torch.manual_seed(0)
    embeddings = (10 * torch.nn.functional.normalize(torch.randn(batch, dim), dim=1)).requires_grad_()
    labels = torch.randint(0, classes, (batch,))
    crit = pdml.ElNivmfLoss(classes, dim, n_samples=n_samples, guidance_weight=0.3, init_kappa=9.0,
                            init_temperature=0.05)
    peer = TorchCriterion(crit.proxies.detach(), crit.kappas.detach(), 0.05, n_samples, 0.3)
    options = pdml.functional.loss_options(n_samples, 0.3, 0.1, "paper_rule", 32.0, 0.1)

    def module_step():
        crit.zero_grad(set_to_none=True)
        embeddings.grad = None
        crit(embeddings, labels).backward()

    def torch_step():
        peer.zero_grad(set_to_none=True)
        embeddings.grad = None
        peer(embeddings, labels).backward()

    def cxx(steps_):
        return pdml._C.el_nivmf_time_step(embeddings.detach(), labels, crit.proxies.detach(),
                                          crit.kappas.detach(), 0.05, options, steps_)

    module_step(), torch_step(), cxx(1)  # warm-up
    results = {"module": [], "c++": [], "torch": []}
    for _ in range(rounds):
        results["module"].append(time_steps(module_step, steps))
        results["c++"].append(cxx(steps))
        results["torch"].append(time_steps(torch_step, torch_steps))
    for clock, index in (("cpu", 1), ("wall", 0)):
        med = {name: statistics.median(v[index] for v in values) for name, values in results.items()}
        print(f"B {batch}, C {classes}, D {dim}, S {n_samples}, {clock} ms per step (median of {rounds} rounds): "
              f"c++ {1e3 * med['c++']:.3f}, module {1e3 * med['module']:.3f}, torch {1e3 * med['torch']:.2f}; "
              f"module / c++ = {med['module'] / med['c++']:.3f}, torch / module = {med['torch'] / med['module']:.1f}",
              flush=True)


def loaded_blas():
    """The BLAS library torch's GEMMs run on (Debian's torch calls libblas.so.3, the reference
    BLAS unless an optimized one such as OpenBLAS is selected or preloaded)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "blas" in line.split()[-1]}
        return ", ".join(sorted(os.path.realpath(p) for p in paths)) or "none found"
    except OSError:
        return "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="few steps (a smoke test, not a measurement)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, float32, BLAS {loaded_blas()}")
    quick = args.quick
    bench(64, 100, 128, 5, args.rounds, 2 if quick else 50, 1 if quick else 5)
    bench(64, 11318, 512, 5, args.rounds, 1 if quick else 5, 1 if quick else 2)


if __name__ == "__main__":
    main()
