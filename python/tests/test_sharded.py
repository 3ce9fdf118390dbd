# SPDX-License-Identifier: MIT
"""pdml.distributed.ShardedElNivmfLoss over torch.distributed (gloo, two CPU processes):
loss and every gradient (embeddings, each rank's proxies and kappas, log temperature) equal
the single-process pdml.functional.el_nivmf_loss on the same batch, classes and sampling key,
to 1e-12 relative in double -- with uneven class ranges, a rank that owns no label of the
batch, blocks smaller than a shard, and the ProxyAnchor guidance term. Also the gradient of
a network in front of all_gather_embeddings, summed over ranks, against one process."""
import math
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import pdml
from pdml.distributed import ShardedElNivmfLoss, all_gather_embeddings, even_shard
from pdml.functional import el_nivmf_loss

B, C, D, S, IN = 8, 7, 5, 3, 4
WORLD = 2
# (name, shards per rank or None for even_shard, labels, guidance weight, block_classes)
CASES = [
    ("uneven_guided", [(0, 2), (2, 7)], [0, 1, 2, 3, 4, 5, 6, 1], 0.3, 2),
    ("rank0_owns_no_label", [(0, 3), (3, 7)], [3, 4, 6, 5, 3, 4, 6, 6], 0.0, 3),
    ("even", None, [6, 0, 3, 3, 1, 5, 2, 0], 0.2, 2048),
]


def full_problem():
    g = torch.Generator().manual_seed(77)
    embeddings = 3.0 * torch.randn(B, D, generator=g, dtype=torch.float64)
    proxies = torch.randn(C, D, generator=g, dtype=torch.float64)
    kappas = 1.0 + 6.0 * torch.rand(C, D, generator=g, dtype=torch.float64)
    kappas[1, 0] = 0.01  # clamped at min_kappa
    return embeddings, proxies, kappas, math.log(0.4)


def relative_error(got, want):
    return ((got - want).abs().max() / want.abs().max().clamp_min(1e-300)).item()


def worker(rank, port, out_path):
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    torch.set_num_threads(1)
    results = {}
    embeddings, proxies, kappas, log_t = full_problem()
    for name, shards, labels, guidance, block in CASES:
        shard = None if shards is None else shards[rank]
        crit = ShardedElNivmfLoss(C, D, shard=shard, n_samples=S, guidance_weight=guidance, block_classes=block,
                                  dtype=torch.float64)
        first, end = crit.first, crit.end
        with torch.no_grad():
            crit.proxies.copy_(proxies[first:end])
            crit.kappas.copy_(kappas[first:end])
            crit.log_temperature.fill_(log_t)
        e = embeddings.clone().requires_grad_()
        loss = crit(e, torch.tensor(labels), generator=torch.Generator().manual_seed(5))
        loss.backward()
        results[name] = {"range": (first, end), "loss": loss.detach(), "embeddings": e.grad,
                         "proxies": crit.proxies.grad, "kappas": crit.kappas.grad,
                         "log_temperature": crit.log_temperature.grad}
    # float32: the first case again
    name, shards, labels, guidance, block = CASES[0]
    crit = ShardedElNivmfLoss(C, D, shard=shards[rank], n_samples=S, guidance_weight=guidance,
                              block_classes=block, dtype=torch.float32)
    with torch.no_grad():
        crit.proxies.copy_(proxies[crit.first:crit.end])
        crit.kappas.copy_(kappas[crit.first:crit.end])
        crit.log_temperature.fill_(log_t)
    e = embeddings.float().requires_grad_()
    loss = crit(e, torch.tensor(labels), generator=torch.Generator().manual_seed(5))
    loss.backward()
    results["float32"] = {"loss": loss.detach(), "embeddings": e.grad, "proxies": crit.proxies.grad}
    # a network in front: each rank embeds its half of the batch, gathered for the criterion
    torch.manual_seed(3)
    net = torch.nn.Linear(IN, D).double()
    x = torch.randn(B, IN, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    rows = slice(rank * B // WORLD, (rank + 1) * B // WORLD)
    crit = ShardedElNivmfLoss(C, D, n_samples=S, guidance_weight=0.3, dtype=torch.float64)
    with torch.no_grad():
        crit.proxies.copy_(proxies[crit.first:crit.end])
        crit.kappas.copy_(kappas[crit.first:crit.end])
    whole = all_gather_embeddings(net(x[rows]))
    crit(whole, torch.tensor(CASES[0][2]), generator=torch.Generator().manual_seed(6)).backward()
    results["network"] = {"weight": net.weight.grad, "bias": net.bias.grad}
    torch.save(results, f"{out_path}.{rank}")
    dist.barrier()
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def rank_results(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("sharded") / "results")
    mp.spawn(worker, args=(free_port(), out), nprocs=WORLD, join=True)
    return [torch.load(f"{out}.{r}") for r in range(WORLD)]


def single_process(labels, guidance, seed, dtype=torch.float64):
    embeddings, proxies, kappas, log_t = full_problem()
    e, p, k = (t.to(dtype).requires_grad_() for t in (embeddings, proxies, kappas))
    lt = torch.tensor(log_t, dtype=dtype, requires_grad=True)
    loss = el_nivmf_loss(e, torch.tensor(labels), p, k, lt.exp(), n_samples=S, guidance_weight=guidance,
                         generator=torch.Generator().manual_seed(seed))
    loss.backward()
    return loss.detach(), e.grad, p.grad, k.grad, lt.grad


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_sharded_equals_single_process(rank_results, case):
    name, shards, labels, guidance, _ = case
    loss, g_e, g_p, g_k, g_t = single_process(labels, guidance, 5)
    ranges = [r[name]["range"] for r in rank_results]
    assert ranges == (shards or [even_shard(C, r, WORLD) for r in range(WORLD)])
    for result in (r[name] for r in rank_results):
        first, end = result["range"]
        assert relative_error(result["loss"], loss) <= 1e-12
        assert relative_error(result["embeddings"], g_e) <= 1e-12  # the full gradient on every rank
        assert relative_error(result["proxies"], g_p[first:end]) <= 1e-12
        assert relative_error(result["kappas"], g_k[first:end]) <= 1e-12
        assert relative_error(result["log_temperature"], g_t) <= 1e-12
        assert result["proxies"].abs().sum() > 0
    assert g_k[1, 0] == 0 and rank_results[0][name]["kappas"][1, 0] == 0  # clamped entry (rank 0 holds class 1)


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")
def test_sharded_float32(rank_results):
    name, shards, labels, guidance, _ = CASES[0]
    # against one float32 process (float32 samples differ from float64 ones under one key)
    loss, g_e, g_p, _, _ = single_process(labels, guidance, 5, torch.float32)
    for rank, result in enumerate(r["float32"] for r in rank_results):
        first, end = shards[rank]
        assert result["loss"].dtype == torch.float32
        assert relative_error(result["loss"], loss) <= 1e-5
        assert relative_error(result["embeddings"], g_e) <= 1e-4
        assert relative_error(result["proxies"], g_p[first:end]) <= 1e-4


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")
def test_network_gradient_through_all_gather(rank_results):
    _, proxies, kappas, _ = full_problem()
    torch.manual_seed(3)
    net = torch.nn.Linear(IN, D).double()
    x = torch.randn(B, IN, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    el_nivmf_loss(net(x), torch.tensor(CASES[0][2]), proxies, kappas, 0.05, n_samples=S, guidance_weight=0.3,
                  generator=torch.Generator().manual_seed(6)).backward()
    for name, param in (("weight", net.weight), ("bias", net.bias)):
        summed = sum(r["network"][name] for r in rank_results)
        assert relative_error(summed, param.grad) <= 1e-12, name


def test_shard_arguments():
    assert [even_shard(7, r, 3) for r in range(3)] == [(0, 3), (3, 5), (5, 7)]
    with pytest.raises(ValueError, match="shard"):
        ShardedElNivmfLoss(5, 3, shard=(3, 3))
    with pytest.raises(ValueError, match="world_size"):
        even_shard(2, 0, 3)
    with pytest.raises(ValueError, match="block_classes"):
        ShardedElNivmfLoss(5, 3, shard=(0, 5), block_classes=0)
    # the C++ sharded criterion refuses the options it does not implement, by name
    from pdml import _C
    for reduction, ignore, name in (("sum", None, "reduction"), ("none", None, "reduction"),
                                    ("mean", -1, "ignore_label")):
        options = _C.LossOptions(S, 0.0, 0.1, "paper_rule", 32.0, 0.1, reduction, ignore)
        with pytest.raises(ValueError, match=f"options.criterion.{name}"):
            _C.validate_sharded_options(options, 16)
