# SPDX-License-Identifier: MIT
"""Loss options of pdml.functional.el_nivmf_loss and pdml.ElNivmfLoss: reduction
("mean", "sum", "none") and ignore_index, against the independent torch reference
(reference.py) and finite differences; and pdml.functional.el_nivmf_similarity."""
import pytest
import torch

import pdml
from pdml.functional import el_nivmf_loss, el_nivmf_similarity

from reference import el_nivmf_per_sample_reference, el_nivmf_reference, el_nivmf_similarity_reference

B, C, D, S = 6, 4, 3, 3
IGNORE = -100


def problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    embeddings = 4.0 * torch.randn(B, D, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2, 0, 1, 3])
    proxies = torch.randn(C, D, generator=g, dtype=torch.float64)
    kappas = 2.0 + 8.0 * torch.rand(C, D, generator=g, dtype=torch.float64)
    samples = torch.randn(S * B, D, generator=g, dtype=torch.float64)
    return embeddings, labels, proxies, kappas, samples / samples.norm(dim=1, keepdim=True)


def leaves(*tensors):
    return [t.clone().requires_grad_() for t in tensors]


@pytest.mark.parametrize("guidance", [0.0, 0.4])
def test_sum_is_batch_times_mean(guidance):
    e, labels, p, k, s = problem()
    results = {}
    for reduction in ("mean", "sum"):
        args = leaves(e, p, k, s) + [torch.tensor(0.3, dtype=torch.float64, requires_grad=True)]
        loss = el_nivmf_loss(args[0], labels, args[1], args[2], args[4], n_samples=S, samples=args[3],
                             guidance_weight=guidance, reduction=reduction)
        loss.backward()
        results[reduction] = (loss.detach(), [a.grad for a in args])
    assert results["sum"][0].item() == pytest.approx(B * results["mean"][0].item(), rel=1e-13)
    for g_sum, g_mean in zip(results["sum"][1], results["mean"][1]):
        assert torch.allclose(g_sum, B * g_mean, rtol=1e-12, atol=1e-14)


def test_none_gives_per_sample_losses_and_their_gradients():
    e, labels, p, k, s = problem()
    args = leaves(e, p, k, s) + [torch.tensor(0.3, dtype=torch.float64, requires_grad=True)]
    losses = el_nivmf_loss(args[0], labels, args[1], args[2], args[4], n_samples=S, samples=args[3],
                           reduction="none")
    ref_args = leaves(p, k, s) + [torch.tensor(0.3, dtype=torch.float64, requires_grad=True)]
    ref = el_nivmf_per_sample_reference(labels, ref_args[0], ref_args[1], ref_args[3], ref_args[2], S)
    assert losses.shape == (B,)
    assert torch.allclose(losses, ref, rtol=1e-12, atol=1e-13)
    upstream = torch.linspace(-1.0, 2.0, B, dtype=torch.float64)  # any per-sample weights
    (losses * upstream).sum().backward()
    (ref * upstream).sum().backward()
    for got, want in zip([args[1], args[2], args[3], args[4]], ref_args):
        assert torch.allclose(got.grad, want.grad, rtol=1e-11, atol=1e-13)
    with pytest.raises(ValueError, match="guidance"):
        el_nivmf_loss(e, labels, p, k, 0.3, n_samples=S, samples=s, reduction="none", guidance_weight=0.1)


def test_ignored_rows_contribute_nothing():
    e, labels, p, k, s = problem()
    ignored = labels.clone()
    ignored[[1, 4]] = IGNORE
    kept = torch.tensor([0, 2, 3, 5])
    args = leaves(e, p, k, s)
    loss = el_nivmf_loss(args[0], ignored, args[1], args[2], 0.3, n_samples=S, samples=args[3],
                         guidance_weight=0.4, ignore_index=IGNORE)
    loss.backward()
    # the reference on the kept rows alone (their samples: rows s B + i for i kept)
    rows = torch.cat([kept + t * B for t in range(S)])
    ref_args = leaves(e[kept], p, k, s[rows])
    ref = el_nivmf_reference(ref_args[0], labels[kept], ref_args[1], ref_args[2], 0.3, ref_args[3],
                             guidance_weight=0.4)
    ref.backward()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-12)
    assert torch.all(args[0].grad[[1, 4]] == 0) and torch.all(args[3].grad.reshape(S, B, D)[:, [1, 4]] == 0)
    assert torch.allclose(args[0].grad[kept], ref_args[0].grad, rtol=1e-11, atol=1e-13)
    assert torch.allclose(args[1].grad, ref_args[1].grad, rtol=1e-11, atol=1e-13)
    assert torch.allclose(args[2].grad, ref_args[2].grad, rtol=1e-11, atol=1e-13)
    assert torch.allclose(args[3].grad[rows], ref_args[3].grad, rtol=1e-11, atol=1e-13)
    per_sample = el_nivmf_loss(e, ignored, p, k, 0.3, n_samples=S, samples=s, reduction="none",
                               ignore_index=IGNORE)
    assert torch.all(per_sample[[1, 4]] == 0)
    summed = el_nivmf_loss(e, ignored, p, k, 0.3, n_samples=S, samples=s, reduction="sum", ignore_index=IGNORE)
    assert summed.item() == pytest.approx(per_sample.sum().item(), rel=1e-13)
    # without ignore_index the same labels are out of range
    with pytest.raises(ValueError, match="labels"):
        el_nivmf_loss(e, ignored, p, k, 0.3, n_samples=S, samples=s)


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_gradcheck_reductions_with_ignored_row(reduction):
    e, labels, p, k, s = problem()
    labels = labels.clone()
    labels[2] = -1
    inputs = tuple(leaves(e, p, k, s)) + (torch.tensor(0.4, dtype=torch.float64, requires_grad=True),)

    def f(e_, p_, k_, s_, t_):
        return el_nivmf_loss(e_, labels, p_, k_, t_, n_samples=S, samples=s_, reduction=reduction, ignore_index=-1,
                             guidance_weight=0.5 if reduction == "sum" else 0.0)

    assert torch.autograd.gradcheck(f, inputs)


def test_gradcheck_sampled_path_per_sample():
    """The drawn-samples path with reduction none: the gradient reaches the embeddings through
    the sampler (a fixed generator makes the function deterministic)."""
    e, labels, p, k, _ = problem()
    e = e[:3].clone().requires_grad_()

    def f(e_):
        return el_nivmf_loss(e_, labels[:3], p, k, 0.5, n_samples=2, reduction="none",
                             generator=torch.Generator().manual_seed(9))

    assert torch.autograd.gradcheck(f, (e,))


def test_module_options():
    crit = pdml.ElNivmfLoss(C, D, n_samples=S, reduction="sum", ignore_index=IGNORE, dtype=torch.float64)
    e, labels, _, _, s = problem()
    labels = labels.clone()
    labels[0] = IGNORE
    total = crit(e, labels, samples=s)
    crit.reduction = "mean"
    mean = crit(e, labels, samples=s)
    assert total.item() == pytest.approx((B - 1) * mean.item(), rel=1e-13)
    assert crit.warm_start(e, labels) == 4  # the ignored row is skipped
    with pytest.raises(ValueError, match="reduction"):
        pdml.ElNivmfLoss(C, D, reduction="average")
    assert "reduction='mean'" in repr(crit)


def test_similarity_matches_reference_and_gradcheck():
    _, _, p, k, s = problem()
    k[1, 2] = 0.05  # clamped
    sims = el_nivmf_similarity(s, p, k, 0.3, n_samples=S)
    ref = el_nivmf_similarity_reference(p, k, 0.3, s, S)
    assert sims.shape == (B, C)
    assert torch.allclose(sims, ref, rtol=1e-12, atol=1e-12)
    inputs = tuple(leaves(s, p, k)) + (torch.tensor(0.4, dtype=torch.float64, requires_grad=True),)
    assert torch.autograd.gradcheck(lambda s_, p_, k_, t_: el_nivmf_similarity(s_, p_, k_, t_, n_samples=S), inputs)
    exact = lambda s_, p_, k_, t_: el_nivmf_similarity(s_, p_, k_, t_, n_samples=S, scoring="exact_density")
    assert torch.autograd.gradcheck(exact, inputs)
    # float32 agrees with the double result
    sims32 = el_nivmf_similarity(s.float(), p.float(), k.float(), 0.3, n_samples=S)
    assert sims32.dtype == torch.float32 and torch.allclose(sims32.double(), ref, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="samples"):
        el_nivmf_similarity(s[:-1], p, k, 0.3, n_samples=S)
    with pytest.raises(ValueError, match="temperature"):
        el_nivmf_similarity(s, p, k, 0.0, n_samples=S)
