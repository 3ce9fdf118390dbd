# SPDX-License-Identifier: MIT
"""The EL-nivMF criterion with its classes sharded across the processes of a
torch.distributed group (pdml::ShardedElNivmfLoss, docs/scale.md): each rank holds a
contiguous range of the classes' proxies and concentrations, every rank gets the whole
batch's embeddings and labels, and the loss and every gradient equal the single-process
criterion's up to rounding. The per-shard statistics are combined by
torch.distributed.all_reduce (MAX and SUM) on CPU tensors that wrap pdml's own buffers."""
import math

import torch
import torch.distributed as dist
from torch import nn

from . import _C
from ._common import check_labels, check_tensor, random_key
from .functional import loss_options


def even_shard(num_classes, rank, world_size):
    """(first, end): rank's contiguous class range when num_classes are split into world_size
    ranges whose sizes differ by at most one (the first num_classes % world_size are larger),
    as pdml::even_class_shard."""
    if not 1 <= world_size <= num_classes:
        raise ValueError(f"pdml.distributed.even_shard: need 1 <= world_size <= num_classes, got "
                         f"world_size {world_size} and num_classes {num_classes}")
    if not 0 <= rank < world_size:
        raise ValueError(f"pdml.distributed.even_shard: rank {rank} is outside [0, {world_size})")
    base, extra = divmod(num_classes, world_size)
    first = rank * base + min(rank, extra)
    return first, first + base + (1 if rank < extra else 0)


def _reducers(group):
    def all_reduce_max(buffer):
        dist.all_reduce(buffer, op=dist.ReduceOp.MAX, group=group)

    def all_reduce_sum(buffer):
        dist.all_reduce(buffer, op=dist.ReduceOp.SUM, group=group)

    return all_reduce_max, all_reduce_sum


class _ShardedFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, embeddings, proxies, kappas, temperature, labels, options, block_classes, shard, key, group):
        first, end, total = shard
        reduce_max, reduce_sum = _reducers(group)
        value, state = _C.sharded_el_nivmf_forward(
            embeddings, labels, proxies, kappas, float(temperature), options, block_classes, first, end, total,
            key[0], key[1], reduce_max, reduce_sum)
        ctx.state = state
        ctx.group = group
        ctx.temperature_dtype = temperature.dtype
        return value

    @staticmethod
    def backward(ctx, grad_loss):
        reduce_max, reduce_sum = _reducers(ctx.group)
        grad_e, grad_p, grad_k, grad_t = _C.sharded_el_nivmf_backward(ctx.state, float(grad_loss), reduce_max,
                                                                      reduce_sum)
        needs = ctx.needs_input_grad
        return (grad_e if needs[0] else None, grad_p if needs[1] else None, grad_k if needs[2] else None,
                grad_t.to(ctx.temperature_dtype) if needs[3] else None, None, None, None, None, None, None)


class ShardedElNivmfLoss(nn.Module):
    """pdml.ElNivmfLoss with the classes sharded across the ranks of `group` (the default
    process group when None). This rank holds classes [first, end) of num_classes: parameters
    `proxies` and `kappas` ((end - first) x D) and the replicated `log_temperature`.

    forward(embeddings, labels) is a collective: every rank of the group calls it with the
    whole batch (B x D embeddings, e.g. all-gathered with all_gather_embeddings, and the B
    global labels in [0, num_classes)) and gets the same scalar loss. Its backward gives this
    rank's proxy and concentration gradients, and the full embedding and temperature gradients
    (summed over the shards, the same on every rank). The samples of image i are drawn with one
    key on every rank (drawn from torch's generator on the group's first rank and broadcast).

    shard: (first, end) of this rank; None splits the classes evenly (even_shard). Options
    as in pdml.ElNivmfLoss (reduction "mean" only, no ignore_index); block_classes bounds the
    per-rank memory (local classes processed per block).
    """

    def __init__(self, num_classes, embedding_dim, *, shard=None, group=None, n_samples=5, guidance_weight=0.0,
                 init_kappa=16.0, init_temperature=0.05, min_kappa=0.1, scoring="paper_rule",
                 proxy_anchor_alpha=32.0, proxy_anchor_delta=0.1, block_classes=2048, dtype=None):
        super().__init__()
        fn = "distributed.ShardedElNivmfLoss"
        if int(num_classes) != num_classes or num_classes < 1:
            raise ValueError(f"pdml.{fn}: argument 'num_classes' must be a positive int, got {num_classes}")
        if int(embedding_dim) != embedding_dim or embedding_dim < 2:
            raise ValueError(f"pdml.{fn}: argument 'embedding_dim' must be an int >= 2, got {embedding_dim}")
        if not (init_kappa > 0 and math.isfinite(init_kappa)):
            raise ValueError(f"pdml.{fn}: argument 'init_kappa' must be positive and finite, got {init_kappa}")
        if not (init_temperature > 0 and math.isfinite(init_temperature)):
            raise ValueError(f"pdml.{fn}: argument 'init_temperature' must be positive and finite, "
                             f"got {init_temperature}")
        if shard is None:
            if not dist.is_initialized():
                raise RuntimeError(f"pdml.{fn}: torch.distributed is not initialized (or pass shard=)")
            shard = even_shard(int(num_classes), dist.get_rank(group), dist.get_world_size(group))
        first, end = (int(v) for v in shard)
        if not 0 <= first < end <= num_classes:
            raise ValueError(f"pdml.{fn}: argument 'shard' must be (first, end) with 0 <= first < end <= "
                             f"num_classes, got {tuple(shard)}")
        self.options = loss_options(n_samples, guidance_weight, min_kappa, scoring, proxy_anchor_alpha,
                                    proxy_anchor_delta, fn=fn)
        if isinstance(block_classes, bool) or int(block_classes) != block_classes:
            raise TypeError(f"pdml.{fn}: argument 'block_classes' must be an int")
        self.block_classes = int(block_classes)
        _C.validate_sharded_options(self.options, self.block_classes)
        self.num_classes, self.first, self.end, self.group = int(num_classes), first, end, group
        dtype = dtype or torch.get_default_dtype()
        proxies = torch.randn(end - first, embedding_dim, dtype=dtype)
        self.proxies = nn.Parameter(proxies / proxies.norm(dim=1, keepdim=True))
        self.kappas = nn.Parameter(torch.full((end - first, embedding_dim), float(init_kappa), dtype=dtype))
        self.log_temperature = nn.Parameter(torch.tensor(math.log(init_temperature), dtype=dtype))

    @property
    def temperature(self):
        return self.log_temperature.exp()

    def _shared_key(self, generator):
        key = torch.tensor(random_key(generator), dtype=torch.int64)
        if dist.is_initialized():
            source = 0 if self.group is None else dist.get_global_rank(self.group, 0)
            dist.broadcast(key, src=source, group=self.group)
        return int(key[0]), int(key[1])

    def forward(self, embeddings, labels, *, generator=None):
        fn = "distributed.ShardedElNivmfLoss"
        check_tensor("embeddings", embeddings, fn)
        labels = check_labels(labels, fn).to(torch.int64)
        if embeddings.dtype != self.proxies.dtype:
            raise TypeError(f"pdml.{fn}: argument 'embeddings' has dtype {embeddings.dtype}, but the "
                            f"parameters have {self.proxies.dtype}")
        key = self._shared_key(generator)
        return _ShardedFunction.apply(embeddings.contiguous(), self.proxies.contiguous(), self.kappas.contiguous(),
                                      self.log_temperature.exp(), labels, self.options, self.block_classes,
                                      (self.first, self.end, self.num_classes), key, self.group)

    def param_groups(self, lr, proxy_lr_mult=7500.0, kappa_lr_mult=7500.0, temperature_lr_mult=200.0):
        """Optimizer parameter groups with the paper's learning-rate multipliers (as
        pdml.ElNivmfLoss.param_groups)."""
        return [
            {"params": [self.proxies], "lr": lr * proxy_lr_mult, "name": "proxies"},
            {"params": [self.kappas], "lr": lr * kappa_lr_mult, "name": "kappas"},
            {"params": [self.log_temperature], "lr": lr * temperature_lr_mult, "name": "log_temperature"},
        ]

    def extra_repr(self):
        return (f"num_classes={self.num_classes}, shard=[{self.first}, {self.end}), "
                f"embedding_dim={self.proxies.shape[1]}, block_classes={self.block_classes}")


class _GatherRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, local, group):
        world = dist.get_world_size(group)
        parts = [torch.empty_like(local) for _ in range(world)]
        dist.all_gather(parts, local.contiguous(), group=group)
        ctx.rank, ctx.rows = dist.get_rank(group), local.shape[0]
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad):
        # The sharded criterion's embedding gradient is already the full sum over shards on
        # every rank: this rank keeps its own rows (no further reduction).
        return grad[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows], None


def all_gather_embeddings(local, group=None):
    """Concatenates every rank's local embeddings (equal row counts, rank order) into the whole
    batch for ShardedElNivmfLoss; the backward hands each rank the gradient of its own rows.
    (A differentiable all_gather that sums gradients across ranks would count them R times,
    since every rank already holds the full embedding gradient.) Gather the labels with a plain
    torch.distributed.all_gather in the same order."""
    return _GatherRows.apply(local, group)
