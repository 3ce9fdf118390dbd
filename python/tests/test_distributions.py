# SPDX-License-Identifier: MIT
"""VonMisesFisher, PowerSpherical, NonIsotropicVonMisesFisher: sample statistics against
closed forms (fixed seeds, thresholds in standard errors), densities against closed forms,
gradients against finite differences, and the reparameterized concentration gradient
against the derivative of the mean (as the C++ tests check the sampler)."""
import math

import pytest
import torch
from torch.distributions import kl_divergence

import pdml

N_DRAWS = 20000


def a3(kappa):
    """A_3(k) = coth k - 1/k, the mean resultant length of vMF on S^2."""
    return 1 / math.tanh(kappa) - 1 / kappa


def a3_prime(kappa):
    return 1 / kappa**2 - 1 / math.sinh(kappa) ** 2


def unit(v):
    return v / v.norm(dim=-1, keepdim=True)


@pytest.mark.parametrize("kappa", [0.5, 4.0, 60.0])
def test_vmf_samples_have_the_right_mean_resultant(kappa):
    mu = unit(torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64))
    x = pdml.VonMisesFisher(mu, torch.tensor(kappa, dtype=torch.float64)).sample((N_DRAWS,))
    assert x.shape == (N_DRAWS, 3)
    assert torch.allclose(x.norm(dim=1), torch.ones(N_DRAWS, dtype=torch.float64), atol=1e-12)
    t = x @ mu
    # Var[mu^T x] <= E[(mu^T x)^2] <= 1: 5 standard errors
    assert abs(t.mean().item() - a3(kappa)) < 5 * t.std().item() / math.sqrt(N_DRAWS)
    # the tangent part is isotropic: its mean vanishes
    tangent = x - t[:, None] * mu
    assert tangent.mean(dim=0).norm().item() < 5 / math.sqrt(N_DRAWS)


@pytest.mark.parametrize("kappa", [0.7, 5.0, 40.0])
def test_vmf_rsample_concentration_gradient_is_derivative_of_mean(kappa):
    """d/dk E[mu^T x] = A_3'(k); the Monte Carlo average of the reparameterized gradient of
    mu^T x must agree within 5 standard errors."""
    mu = unit(torch.tensor([0.3, 0.4, -1.0], dtype=torch.float64))
    k = torch.full((N_DRAWS,), kappa, dtype=torch.float64, requires_grad=True)
    x = pdml.VonMisesFisher(mu.expand(N_DRAWS, 3), k).rsample()
    (x @ mu).sum().backward()
    g = k.grad
    assert abs(g.mean().item() - a3_prime(kappa)) < 5 * g.std().item() / math.sqrt(N_DRAWS)


def test_vmf_log_prob_entropy_mean_kl_closed_forms():
    mu = unit(torch.tensor([[1.0, 2.0, 2.0], [0.0, -1.0, 0.0]], dtype=torch.float64))
    kappa = torch.tensor([3.0, 0.2], dtype=torch.float64)
    d = pdml.VonMisesFisher(mu, kappa)
    x = unit(torch.randn(5, 2, 3, dtype=torch.float64))
    log_c = torch.log(kappa / (4 * math.pi * torch.sinh(kappa)))
    assert torch.allclose(d.log_prob(x), log_c + kappa * (x * mu).sum(-1), rtol=1e-12)
    mean_res = torch.tensor([a3(3.0), a3(0.2)], dtype=torch.float64)
    assert torch.allclose(d.mean, mean_res[:, None] * mu, rtol=1e-12)
    assert torch.allclose(d.entropy(), -log_c - kappa * mean_res, rtol=1e-12)
    q = pdml.VonMisesFisher(unit(torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)), torch.tensor(1.5, dtype=torch.float64))
    kl = kl_divergence(d, q)
    log_cq = math.log(1.5 / (4 * math.pi * math.sinh(1.5)))
    mu_q = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    ref = log_c - log_cq + (kappa[:, None] * mu - 1.5 * mu_q).mul(d.mean).sum(-1)
    assert torch.allclose(kl, ref, rtol=1e-11)
    assert torch.allclose(kl_divergence(d, d), torch.zeros(2, dtype=torch.float64), atol=1e-12)


def test_vmf_gradchecks():
    loc = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    kappa = torch.tensor([0.5, 3.0, 20.0], dtype=torch.float64, requires_grad=True)
    x = unit(torch.randn(2, 3, 4, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda l, k, v: pdml.VonMisesFisher(l, k).log_prob(v), (loc, kappa, x))
    assert torch.autograd.gradcheck(lambda k: pdml.VonMisesFisher(loc.detach(), k).entropy(), (kappa,))
    assert torch.autograd.gradcheck(lambda l, k: pdml.VonMisesFisher(l, k).mean, (loc, kappa))
    loc2 = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    kappa2 = torch.tensor([1.0, 0.1, 7.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda l1, k1, l2, k2: kl_divergence(pdml.VonMisesFisher(l1, k1), pdml.VonMisesFisher(l2, k2)),
        (loc, kappa, loc2, kappa2))


def test_vmf_sampling_is_reproducible_and_float32():
    mu = unit(torch.randn(4, 8))
    d = pdml.VonMisesFisher(mu, torch.full((4,), 10.0))
    torch.manual_seed(1)
    a = d.sample((3,))
    torch.manual_seed(1)
    b = d.sample((3,))
    assert a.dtype == torch.float32 and a.shape == (3, 4, 8)
    assert torch.equal(a, b)
    assert not torch.equal(a, d.sample((3,)))


def test_power_spherical_statistics_and_gradients():
    p, kappa = 5, 6.0
    mu = unit(torch.tensor([1.0, 0.0, -1.0, 2.0, 0.5], dtype=torch.float64))
    d = pdml.PowerSpherical(mu, torch.tensor(kappa, dtype=torch.float64))
    x = d.sample((N_DRAWS,))
    t = x @ mu
    assert abs(t.mean().item() - kappa / (p - 1 + kappa)) < 5 * t.std().item() / math.sqrt(N_DRAWS)
    assert torch.allclose(d.mean, kappa / (p - 1 + kappa) * mu, rtol=1e-12)
    # density: log C + kappa log(1 + mu^T x), C from the paper's closed form
    alpha, beta = (p - 1) / 2 + kappa, (p - 1) / 2
    log_c = -((alpha + beta) * math.log(2) + beta * math.log(math.pi)
              + math.lgamma(alpha) - math.lgamma(alpha + beta))
    assert torch.allclose(d.log_prob(x[:10]), log_c + kappa * torch.log1p(x[:10] @ mu), rtol=1e-11)
    # reparameterized concentration gradient vs d/dk E[mu^T x] = (p-1)/(p-1+k)^2
    k = torch.full((N_DRAWS,), kappa, dtype=torch.float64, requires_grad=True)
    y = pdml.PowerSpherical(mu.expand(N_DRAWS, p), k).rsample()
    (y @ mu).sum().backward()
    g = k.grad
    assert abs(g.mean().item() - (p - 1) / (p - 1 + kappa) ** 2) < 5 * g.std().item() / math.sqrt(N_DRAWS)
    kk = torch.tensor([0.5, 6.0], dtype=torch.float64, requires_grad=True)
    pts = unit(torch.randn(3, 2, p, dtype=torch.float64)).requires_grad_()
    mus = unit(torch.randn(2, p, dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda k_, v_: pdml.PowerSpherical(mus, k_).log_prob(v_), (kk, pts))
    assert torch.autograd.gradcheck(lambda k_: pdml.PowerSpherical(mus, k_).entropy(), (kk,))


def test_nivmf_isotropic_case_is_vmf_and_gradients():
    mu = unit(torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64))
    iso = pdml.NonIsotropicVonMisesFisher(mu, torch.full((1, 3), 4.0, dtype=torch.float64))
    vmf = pdml.VonMisesFisher(mu, torch.tensor([4.0], dtype=torch.float64))
    x = unit(torch.randn(7, 1, 3, dtype=torch.float64))
    assert torch.allclose(iso.log_prob(x), vmf.log_prob(x), rtol=1e-11)
    conc = torch.tensor([[2.0, 9.0, 5.0]], dtype=torch.float64)
    d = pdml.NonIsotropicVonMisesFisher(mu, conc)
    s = d.sample((N_DRAWS,))
    assert s.shape == (N_DRAWS, 1, 3)
    assert torch.allclose(s.norm(dim=-1), torch.ones(N_DRAWS, 1, dtype=torch.float64), atol=1e-12)
    # the samples concentrate around nu: E[nu^T x] well above its value under the uniform (0)
    assert (s[:, 0] @ mu[0]).mean().item() > 0.5
    loc = mu.clone().requires_grad_()
    c = conc.clone().requires_grad_()
    pts = unit(torch.randn(4, 1, 3, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda l_, c_, v_: pdml.NonIsotropicVonMisesFisher(l_, c_).log_prob(v_),
                                    (loc, c, pts))


def test_distribution_errors():
    with pytest.raises(TypeError):
        pdml.VonMisesFisher(torch.randn(3, 4, dtype=torch.float64), torch.ones(3))
    with pytest.raises(ValueError):
        pdml.VonMisesFisher(torch.randn(3, 1), torch.ones(3))
    with pytest.raises(ValueError, match="unit"):
        pdml.PowerSpherical(torch.randn(2, 4) * 3, torch.ones(2)).sample()
    with pytest.raises(ValueError):
        pdml.VonMisesFisher(torch.randn(2, 4), -torch.ones(2)).sample()


def test_nivmf_rsample_concentration_gradient_at_isotropic_point():
    """At K = k I the nivMF is vMF(nu, k), so moving every concentration together changes
    E[nu^T x] at the rate A_3'(k): the summed reparameterized gradient must agree (5 s.e.)."""
    kappa = 3.0
    nu = unit(torch.tensor([0.2, -0.7, 0.4], dtype=torch.float64))
    conc = torch.full((N_DRAWS, 3), kappa, dtype=torch.float64, requires_grad=True)
    x = pdml.NonIsotropicVonMisesFisher(nu.expand(N_DRAWS, 3), conc).rsample()
    (x @ nu).sum().backward()
    g = conc.grad.sum(dim=1)
    assert abs(g.mean().item() - a3_prime(kappa)) < 5 * g.std().item() / math.sqrt(N_DRAWS)


def test_vmf_rsample_loc_gradient_is_derivative_of_mean():
    """E[a^T x] = A_3(k) a^T loc / |loc|, so its gradient in loc is
    A_3(k) (I - mu mu^T) a / |loc|; the Monte Carlo average of the pathwise gradient agrees
    componentwise within 5 standard errors."""
    kappa = 2.5
    loc0 = torch.tensor([0.6, -0.3, 1.1], dtype=torch.float64)
    a = torch.tensor([0.5, 1.0, -0.4], dtype=torch.float64)
    loc = loc0.expand(N_DRAWS, 3).clone().requires_grad_()
    x = pdml.VonMisesFisher(loc, torch.tensor(kappa, dtype=torch.float64)).rsample()
    (x @ a).sum().backward()
    mu = unit(loc0)
    want = a3(kappa) * (a - (a @ mu) * mu) / loc0.norm()
    g = loc.grad
    assert torch.all((g.mean(0) - want).abs() < 5 * g.std(0) / math.sqrt(N_DRAWS)), (g.mean(0), want)
