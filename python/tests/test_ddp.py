# SPDX-License-Identifier: MIT
"""DistributedDataParallel (gloo, two CPU processes) with guidance weight 0: the averaged
gradients equal the single-process gradients on the concatenated batch.

Why this holds, and what it needs: with guidance weight 0 the loss is Proxy-NCA, a mean over
images of terms that each depend on one image's own samples, so
L(full batch of 2b) = (L(first b) + L(second b)) / 2, and DDP's gradient average is the
gradient of the full-batch loss -- provided every image sees the same samples in both runs.
pdml's sampler addresses image i's sample s by the stream index s N + i of its own call, so a
rank's half batch would draw different samples than the full batch. The test therefore keys
the randomness by image instead of by position: image g (global index) draws its S samples
with pdml.VonMisesFisher(e_g, |e_g|).rsample under a generator seeded with g, in whichever
process holds it, and the criterion gets them with `samples=`. The gradient still flows
through pdml's exact sampler (rsample's backward) into the network (an nn.Linear in front),
so every parameter -- network, proxies, kappas, log_temperature -- is compared."""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import pdml

B, C, D, S, IN = 8, 5, 6, 4, 7


def make_data():
    g = torch.Generator().manual_seed(123)
    x = torch.randn(B, IN, generator=g, dtype=torch.float64)
    labels = torch.randint(0, C, (B,), generator=g)
    return x, labels


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(7)
        self.net = torch.nn.Linear(IN, D).double()
        self.crit = pdml.ElNivmfLoss(C, D, n_samples=S, guidance_weight=0.0, init_kappa=5.0,
                                     init_temperature=0.5, dtype=torch.float64)

    def forward(self, x, labels, first_image):
        e = 3.0 * self.net(x)
        # sample s of local image i at row s b + i; image g's draws keyed by g
        draws = [pdml.VonMisesFisher(e[i], e[i].norm()).rsample(
                     (S,), generator=torch.Generator().manual_seed(1000 + first_image + i))
                 for i in range(len(x))]
        samples = torch.stack(draws, dim=1).reshape(-1, D)
        return self.crit(e, labels, samples=samples)


def worker(rank, world, port, out_path):
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    x, labels = make_data()
    first = rank * B // world
    half = slice(first, (rank + 1) * B // world)
    model = torch.nn.parallel.DistributedDataParallel(Model())
    model(x[half], labels[half], first).backward()
    if rank == 0:
        torch.save({n: p.grad for n, p in model.module.named_parameters()}, out_path)
    dist.barrier()
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")
def test_ddp_gradients_equal_single_process(tmp_path):
    out = str(tmp_path / "grads.pt")
    mp.spawn(worker, args=(2, free_port(), out), nprocs=2, join=True)
    ddp_grads = torch.load(out)
    x, labels = make_data()
    model = Model()
    model(x, labels, 0).backward()
    for name, p in model.named_parameters():
        assert torch.allclose(ddp_grads[name], p.grad, rtol=1e-10, atol=1e-13), name
        assert p.grad.abs().sum() > 0, name
