# SPDX-License-Identifier: MIT
"""pdml.functional.el_nivmf_loss and pdml.ElNivmfLoss: values against an independent torch
reference on identical samples, gradients against finite differences (gradcheck, double),
the sampled path against the composition sampler -> loss, reproducibility, errors."""
import math

import pytest
import torch

import pdml
from pdml.functional import el_nivmf_loss

from reference import el_nivmf_reference

B, C, D, S = 6, 4, 3, 3


def problem(dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    embeddings = 4.0 * torch.randn(B, D, generator=g, dtype=dtype)
    labels = torch.tensor([0, 1, 2, 0, 1, 3])
    proxies = torch.randn(C, D, generator=g, dtype=dtype)
    kappas = 2.0 + 8.0 * torch.rand(C, D, generator=g, dtype=dtype)
    samples = torch.randn(S * B, D, generator=g, dtype=dtype)
    samples = samples / samples.norm(dim=1, keepdim=True)
    return embeddings, labels, proxies, kappas, samples


@pytest.mark.parametrize("guidance", [0.0, 0.3])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_value_and_gradients_match_torch_reference(guidance, dtype):
    e, labels, p, k, s = problem(dtype)
    k[0, 1] = 0.05  # clamped at min_kappa: zero gradient there
    temperature = 0.3
    leaves = [t.clone().requires_grad_() for t in (e, p, k, s)]
    t_leaf = torch.tensor(temperature, dtype=dtype, requires_grad=True)
    loss = el_nivmf_loss(leaves[0], labels, leaves[1], leaves[2], t_leaf, n_samples=S,
                         guidance_weight=guidance, samples=leaves[3])
    loss.backward()
    ref_leaves = [t.detach().double().clone().requires_grad_() for t in (e, p, k, s)]
    rt = torch.tensor(temperature, dtype=torch.float64, requires_grad=True)
    ref = el_nivmf_reference(ref_leaves[0], labels, ref_leaves[1], ref_leaves[2], rt, ref_leaves[3],
                             guidance_weight=guidance)
    ref.backward()
    tol = 1e-10 if dtype == torch.float64 else 2e-4
    assert loss.dtype == dtype
    assert loss.item() == pytest.approx(ref.item(), rel=tol, abs=tol)
    for got, want in zip(leaves + [t_leaf], ref_leaves + [rt]):
        want_grad = torch.zeros_like(want) if want.grad is None else want.grad  # unused: zero
        assert torch.allclose(got.grad.double(), want_grad, rtol=tol, atol=tol), (got.grad, want_grad)
    assert leaves[2].grad[0, 1] == 0


def test_gradcheck_with_given_samples():
    e, labels, p, k, s = problem()
    inputs = tuple(t.clone().requires_grad_() for t in (e, p, k, s)) + (
        torch.tensor(0.4, dtype=torch.float64, requires_grad=True),)

    def f(e_, p_, k_, s_, t_):
        return el_nivmf_loss(e_, labels, p_, k_, t_, n_samples=S, guidance_weight=0.5, samples=s_)

    assert torch.autograd.gradcheck(f, inputs)
    exact = lambda e_, p_, k_, s_, t_: el_nivmf_loss(e_, labels, p_, k_, t_, n_samples=S, samples=s_,
                                                    scoring="exact_density")
    assert torch.autograd.gradcheck(exact, inputs)


def test_sampled_path_is_sampler_then_loss():
    """forward() draws vMF(embeddings) samples with the key from the generator and chains the
    gradient through the sampler: the same as VonMisesFisher.rsample + samples= on that key."""
    e, labels, p, k, _ = problem()
    e1 = e.clone().requires_grad_()
    loss1 = el_nivmf_loss(e1, labels, p, k, 0.3, n_samples=S, generator=torch.Generator().manual_seed(5))
    loss1.backward()
    e2 = e.clone().requires_grad_()
    dist = pdml.VonMisesFisher(e2, e2.norm(dim=1))
    samples = dist.rsample((S,), generator=torch.Generator().manual_seed(5)).reshape(S * B, D)
    loss2 = el_nivmf_loss(e2, labels, p, k, 0.3, n_samples=S, samples=samples)
    loss2.backward()
    assert loss1.item() == pytest.approx(loss2.item(), rel=1e-12)
    assert torch.allclose(e1.grad, e2.grad, rtol=1e-9, atol=1e-12)


def test_manual_seed_reproduces_and_steps_differ():
    e, labels, p, k, _ = problem()
    torch.manual_seed(11)
    a = el_nivmf_loss(e, labels, p, k, 0.3)
    b = el_nivmf_loss(e, labels, p, k, 0.3)
    torch.manual_seed(11)
    a2 = el_nivmf_loss(e, labels, p, k, 0.3)
    assert a.item() == a2.item()
    assert a.item() != b.item()


def test_module_parameters_and_groups():
    crit = pdml.ElNivmfLoss(5, 8, guidance_weight=0.3)
    names = dict(crit.named_parameters())
    assert set(names) == {"proxies", "kappas", "log_temperature"}
    assert names["proxies"].shape == (5, 8) and names["kappas"].shape == (5, 8)
    assert names["log_temperature"].shape == ()
    assert crit.temperature.item() == pytest.approx(0.05)
    assert torch.all(crit.kappas == 16.0)
    groups = crit.param_groups(1e-5)
    lrs = {g["name"]: g["lr"] for g in groups}
    assert lrs == pytest.approx({"proxies": 0.075, "kappas": 0.075, "log_temperature": 0.002})
    custom = crit.param_groups(1.0, proxy_lr_mult=2.0, kappa_lr_mult=3.0, temperature_lr_mult=4.0)
    assert [g["lr"] for g in custom] == [2.0, 3.0, 4.0]
    torch.optim.Adam(groups)  # accepted as optimizer groups
    e = torch.randn(10, 8, requires_grad=True)
    loss = crit(e, torch.arange(10) % 5)
    loss.backward()
    for param in (e, crit.proxies, crit.kappas, crit.log_temperature):
        assert param.grad is not None and torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0


def test_warm_start_sets_class_means():
    crit = pdml.ElNivmfLoss(4, 3, init_kappa=9.0, dtype=torch.float64)
    with torch.no_grad():
        crit.kappas.fill_(3.0)
    before = crit.proxies.detach().clone()
    e = torch.tensor([[1.0, 0, 0], [3.0, 0, 0], [0, 2.0, 0], [0, 0, 5.0]], dtype=torch.float64)
    count = crit.warm_start(e, torch.tensor([0, 0, 1, 2]))
    assert count == 3
    assert torch.allclose(crit.proxies[0], torch.tensor([1.0, 0, 0], dtype=torch.float64))
    assert torch.allclose(crit.proxies[2], torch.tensor([0, 0, 1.0], dtype=torch.float64))
    assert torch.equal(crit.proxies[3], before[3])  # class 3 absent: untouched
    assert torch.all(crit.kappas[:3] == 9.0) and torch.all(crit.kappas[3] == 3.0)
    assert crit.warm_start(e, torch.tensor([3, 3, 3, 3]), initial_kappa=2.0) == 1
    assert torch.all(crit.kappas[3] == 2.0) and torch.all(crit.kappas[:3] == 9.0)


def test_errors_are_clear():
    e, labels, p, k, s = problem()
    with pytest.raises(TypeError, match="float32 or float64"):
        el_nivmf_loss(e.half(), labels, p, k, 0.3)
    with pytest.raises(TypeError, match="dtype"):
        el_nivmf_loss(e, labels, p.float(), k, 0.3)
    with pytest.raises(TypeError, match="labels"):
        el_nivmf_loss(e, labels.double(), p, k, 0.3)
    with pytest.raises(ValueError, match="temperature"):
        el_nivmf_loss(e, labels, p, k, -1.0)
    with pytest.raises(ValueError, match="labels"):
        el_nivmf_loss(e, labels + 10, p, k, 0.3)
    with pytest.raises(ValueError, match="contiguous"):
        el_nivmf_loss(e.t().contiguous().t(), labels, p, k, 0.3)
    with pytest.raises(ValueError, match="scoring"):
        el_nivmf_loss(e, labels, p, k, 0.3, scoring="bogus")
    with pytest.raises(ValueError, match="n_samples"):
        el_nivmf_loss(e, labels, p, k, 0.3, n_samples=0)
    with pytest.raises(ValueError, match="samples"):
        el_nivmf_loss(e, labels, p, k, 0.3, samples=s[:-1])
    bad = e.clone()
    bad[0, 0] = math.nan
    with pytest.raises(ValueError, match="embeddings"):
        el_nivmf_loss(bad, labels, p, k, 0.3)
    with pytest.raises(ValueError, match="proxies"):
        el_nivmf_loss(e, labels, p[:, :2].contiguous(), k, 0.3)
    with pytest.raises(ValueError, match="min_kappa"):
        pdml.ElNivmfLoss(3, 4, min_kappa=0.0)
    with pytest.raises(ValueError, match="CPU"):  # a non-CPU device (meta stands in for CUDA here)
        el_nivmf_loss(torch.empty(B, D, dtype=torch.float64, device="meta"), labels, p, k, 0.3)
    # other integer label dtypes are converted
    g = lambda: torch.Generator().manual_seed(1)
    assert el_nivmf_loss(e, labels.int(), p, k, 0.3, generator=g()).item() == \
        el_nivmf_loss(e, labels, p, k, 0.3, generator=g()).item()


def test_row_strided_views_are_accepted():
    e, labels, p, k, _ = problem()
    wide = torch.zeros(B, 2 * D, dtype=torch.float64)
    wide[:, :D] = e
    view = wide[:, :D]
    assert not view.is_contiguous()
    g = lambda: torch.Generator().manual_seed(3)
    assert el_nivmf_loss(view, labels, p, k, 0.3, generator=g()).item() == \
        el_nivmf_loss(e, labels, p, k, 0.3, generator=g()).item()
