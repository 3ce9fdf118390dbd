# SPDX-License-Identifier: MIT
"""The CUDA path (pdml::cuda on torch's current stream and cuBLAS handle), checked against the
CPU path on identical inputs: the criterion's loss and every gradient with given samples and
with samples drawn under one torch seed, the samplers (the same samples as on the CPU for the
same key, and their statistics), log-densities, special functions, the EL-nivMF similarity;
gradcheck in double on the device; reproducibility under torch.manual_seed; a non-default
stream; and the errors (mixed devices, options pdml::cuda lacks). Skipped without a GPU.

The CPU results are pdml's own CPU path, which test_loss.py, test_distributions.py and
test_special.py check against independent references; here the device must reproduce them.
Tolerances: double 1e-9 relative (different summation orders, GEMMs in cuBLAS), float 2e-4."""
import math

import pytest
import torch
from torch.distributions import kl_divergence

import pdml
from pdml.functional import el_nivmf_loss, el_nivmf_similarity

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

CUDA = "cuda"
B, C, D, S = 6, 4, 5, 3


def tolerance(dtype):
    return 1e-9 if dtype == torch.float64 else 2e-4


def close(got, want, dtype):
    tol = tolerance(dtype)
    return torch.allclose(got.detach().cpu().double(), want.detach().cpu().double(), rtol=tol, atol=tol)


def unit(v):
    return v / v.norm(dim=-1, keepdim=True)


def problem(dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    embeddings = 4.0 * torch.randn(B, D, generator=g, dtype=dtype)
    labels = torch.tensor([0, 1, 2, 0, 1, 3])
    proxies = torch.randn(C, D, generator=g, dtype=dtype)
    kappas = 2.0 + 8.0 * torch.rand(C, D, generator=g, dtype=dtype)
    samples = unit(torch.randn(S * B, D, generator=g, dtype=dtype))
    return embeddings, labels, proxies, kappas, samples


def leaves(tensors, device):
    return [t.detach().clone().to(device).requires_grad_() for t in tensors]


def test_extension_was_built_with_cuda():
    assert pdml._C.has_cuda(), "torch has CUDA, but pdml was built without its CUDA sources"


@pytest.mark.parametrize("scoring", ["paper_rule", "exact_density"])
@pytest.mark.parametrize("guidance", [0.0, 0.3])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_loss_and_gradients_with_given_samples_match_cpu(dtype, guidance, scoring):
    e, labels, p, k, s = problem(dtype)
    k[0, 1] = 0.05  # clamped at min_kappa
    results = []
    for device in ("cpu", CUDA):
        e_, p_, k_, s_ = leaves((e, p, k, s), device)
        t_ = torch.tensor(0.3, dtype=dtype, device=device, requires_grad=True)
        loss = el_nivmf_loss(e_, labels.to(device), p_, k_, t_, n_samples=S, guidance_weight=guidance,
                             scoring=scoring, samples=s_)
        loss.backward()
        assert loss.device.type == device and loss.dtype == dtype
        results.append([loss, e_.grad, p_.grad, k_.grad, s_.grad, t_.grad])
    for cpu, gpu in zip(*results):
        assert gpu.device.type == CUDA
        assert close(gpu, cpu, dtype), (gpu, cpu)
    assert results[1][3][0, 1].item() == 0


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_sampled_loss_matches_cpu_under_one_seed(dtype):
    """The key comes from torch's default (CPU) generator on both paths, and pdml::cuda's
    sampler draws the CPU sampler's samples for a key: same seed, same loss and gradients
    (the gradient through the sampler included)."""
    e, labels, p, k, _ = problem(dtype)
    results = []
    for device in ("cpu", CUDA):
        e_, p_, k_ = leaves((e, p, k), device)
        torch.manual_seed(11)
        loss = el_nivmf_loss(e_, labels.to(device), p_, k_, 0.25, n_samples=S, guidance_weight=0.2)
        loss.backward()
        results.append([loss, e_.grad, p_.grad, k_.grad])
    for cpu, gpu in zip(*results):
        assert close(gpu, cpu, dtype), (gpu, cpu)


def test_loss_gradcheck_on_device():
    e, labels, p, k, s = problem()
    inputs = tuple(leaves((e, p, k, s), CUDA)) + (
        torch.tensor(0.4, dtype=torch.float64, device=CUDA, requires_grad=True),)
    labels = labels.to(CUDA)

    def f(e_, p_, k_, s_, t_):
        return el_nivmf_loss(e_, labels, p_, k_, t_, n_samples=S, guidance_weight=0.5, samples=s_)

    assert torch.autograd.gradcheck(f, inputs)
    # (The drawn-samples path is not gradchecked: its concentration gradient is the implicit
    # reparameterization one, exact in expectation but not the finite difference of one fixed
    # random stream. It is compared with the CPU's above and checked against the derivative of
    # the mean below.)


@pytest.mark.parametrize("kappa", [0.7, 5.0, 40.0])
def test_vmf_rsample_concentration_gradient_is_derivative_of_mean_on_device(kappa):
    """d/dk E[mu^T x] = A_3'(k): the Monte Carlo mean of the device's reparameterized gradient
    must agree within 5 standard errors (as test_distributions.py checks the CPU's)."""
    n = 20000
    mu = unit(torch.tensor([0.3, 0.4, -1.0], dtype=torch.float64, device=CUDA))
    k = torch.full((n,), kappa, dtype=torch.float64, device=CUDA, requires_grad=True)
    x = pdml.VonMisesFisher(mu.expand(n, 3), k).rsample()
    (x @ mu).sum().backward()
    g = k.grad
    a3_prime = 1 / kappa**2 - 1 / math.sinh(kappa) ** 2
    assert abs(g.mean().item() - a3_prime) < 5 * g.std().item() / math.sqrt(n)


def test_module_on_cuda_reproducible_and_sum_reduction():
    torch.manual_seed(0)
    module = pdml.ElNivmfLoss(C, D, n_samples=S, guidance_weight=0.1, dtype=torch.float64).to(CUDA)
    e, labels, *_ = problem()
    e, labels = e.to(CUDA), labels.to(CUDA)
    torch.manual_seed(5)
    a = module(e, labels)
    torch.manual_seed(5)
    b = module(e, labels.int())  # int32 labels: converted to int64 on the device
    assert torch.equal(a, b)
    assert not torch.equal(a, module(e, labels))
    cpu = pdml.ElNivmfLoss(C, D, n_samples=S, guidance_weight=0.1, dtype=torch.float64)
    cpu.load_state_dict({name: value.cpu() for name, value in module.state_dict().items()})
    torch.manual_seed(5)
    assert close(a, cpu(e.cpu(), labels.cpu()), torch.float64)
    summed = pdml.ElNivmfLoss(C, D, n_samples=S, guidance_weight=0.1, reduction="sum",
                              dtype=torch.float64).to(CUDA)
    summed.load_state_dict(module.state_dict())
    torch.manual_seed(5)
    assert close(summed(e, labels), B * a, torch.float64)


def train(device, steps=40):
    """Adam on the criterion's parameters for fixed, well-separated embeddings; the losses."""
    torch.manual_seed(1)
    centers = unit(torch.randn(C, D, dtype=torch.float64))
    labels = torch.arange(C).repeat(8)
    points = unit(centers[labels] + 0.3 * torch.randn(labels.numel(), D, dtype=torch.float64))
    embeddings, labels = (8.0 * points).to(device), labels.to(device)
    module = pdml.ElNivmfLoss(C, D, n_samples=S, guidance_weight=0.1, dtype=torch.float64).to(device)
    optimizer = torch.optim.Adam(module.param_groups(1e-2, 1.0, 1.0, 1.0))
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = module(embeddings, labels, check_device_status=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_module_trains_on_cuda_as_on_cpu():
    """The same seeds give the same samples on both devices, so the CUDA training run follows
    the CPU one (up to rounding that the steps carry along) and its loss falls."""
    gpu, cpu = train(CUDA), train("cpu")
    assert all(math.isfinite(v) for v in gpu)
    assert sum(gpu[-5:]) < 0.8 * sum(gpu[:5])
    for a, b in zip(gpu, cpu):
        assert a == pytest.approx(b, rel=1e-6, abs=1e-9)


def test_device_status_reports_a_bad_label():
    e, labels, p, k, _ = problem()
    labels = labels.clone()
    labels[2] = C  # outside [0, C): the CPU raises, the device reports it in its status word
    with pytest.raises(ValueError, match=r"label outside \[0, C\)"):
        el_nivmf_loss(e.to(CUDA), labels.to(CUDA), p.to(CUDA), k.to(CUDA), 0.3, n_samples=S,
                      check_device_status=True)


def test_non_default_stream_gives_the_default_stream_results():
    e, labels, p, k, s = problem()

    def run():
        e_, p_, k_, s_ = leaves((e, p, k, s), CUDA)
        loss = el_nivmf_loss(e_, labels.to(CUDA), p_, k_, 0.3, n_samples=S, guidance_weight=0.2, samples=s_)
        loss.backward()
        return [loss.detach(), e_.grad, p_.grad, k_.grad, s_.grad]

    want = run()
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        got = run()
        x = pdml.VonMisesFisher(unit(torch.randn(3, D, dtype=torch.float64, device=CUDA)), 5.0).sample((4,))
        values = pdml.log_bessel_i(1.5, torch.linspace(0.1, 30.0, 50, dtype=torch.float64, device=CUDA))
    stream.synchronize()
    for a, b in zip(got, want):
        # pdml's kernels are deterministic; cuBLAS is across streams only for a fixed workspace
        # configuration (docs/cuda.md), so the comparison allows rounding
        assert close(a, b, torch.float64)
    assert torch.isfinite(x).all() and torch.isfinite(values).all()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_samplers_draw_the_cpu_samples_and_gradients(dtype):
    torch.manual_seed(0)
    loc = unit(torch.randn(4, D, dtype=dtype))
    kappa = torch.tensor([0.5, 3.0, 20.0, 200.0], dtype=dtype)
    concentrations = 1.0 + 9.0 * torch.rand(4, D, dtype=dtype)
    makers = [
        lambda l, c, k: pdml.VonMisesFisher(l, k),
        lambda l, c, k: pdml.PowerSpherical(unit(l), k),
        lambda l, c, k: pdml.NonIsotropicVonMisesFisher(l, c),
    ]
    weights = torch.randn(7, 4, D, dtype=dtype)
    for make in makers:
        results = []
        for device in ("cpu", CUDA):
            l_, c_, k_ = leaves((loc, concentrations, kappa), device)
            torch.manual_seed(42)
            x = make(l_, c_, k_).rsample((7,))
            (x * weights.to(device)).sum().backward()
            grads = [t.grad if t.grad is not None else torch.zeros_like(t) for t in (l_, c_, k_)]
            results.append([x] + grads)
        for cpu, gpu in zip(*results):
            assert close(gpu, cpu, dtype)


@pytest.mark.parametrize("kappa", [0.5, 4.0, 60.0])
def test_vmf_sample_statistics_on_device(kappa):
    n = 20000
    mu = unit(torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64, device=CUDA))
    x = pdml.VonMisesFisher(mu, torch.tensor(kappa, dtype=torch.float64, device=CUDA)).sample((n,))
    assert x.device.type == CUDA and x.shape == (n, 3)
    t = x @ mu
    a3 = 1 / math.tanh(kappa) - 1 / kappa
    assert abs(t.mean().item() - a3) < 5 * t.std().item() / math.sqrt(n)  # 5 standard errors


def test_log_prob_entropy_mean_match_cpu_and_gradcheck():
    loc = torch.randn(3, D, dtype=torch.float64)
    kappa = torch.tensor([0.5, 3.0, 20.0], dtype=torch.float64)
    conc = 1.0 + 5.0 * torch.rand(3, D, dtype=torch.float64)
    x = unit(torch.randn(2, 3, D, dtype=torch.float64))
    cases = [
        lambda l, k, c, v: pdml.VonMisesFisher(l, k).log_prob(v),
        lambda l, k, c, v: pdml.PowerSpherical(unit(l), k).log_prob(v),
        lambda l, k, c, v: pdml.NonIsotropicVonMisesFisher(l, c).log_prob(v),
        lambda l, k, c, v: pdml.VonMisesFisher(l, k).entropy() + 0 * v.sum(),
        lambda l, k, c, v: pdml.VonMisesFisher(l, k).mean.sum(-1) + 0 * v.sum(),
        lambda l, k, c, v: pdml.PowerSpherical(unit(l), k).entropy() + 0 * v.sum(),
    ]
    for f in cases:
        cpu = f(loc, kappa, conc, x)
        inputs = tuple(leaves((loc, kappa, conc, x), CUDA))
        gpu = f(*inputs)
        assert gpu.device.type == CUDA and close(gpu, cpu, torch.float64)
        assert torch.autograd.gradcheck(f, inputs)


def test_special_functions_match_cpu_and_gradcheck():
    x = torch.tensor([1e-3, 0.5, 2.0, 30.0, 500.0], dtype=torch.float64)
    for f in (lambda t: pdml.log_bessel_i(2.5, t), lambda t: pdml.bessel_i_ratio(0.5, t),
              lambda t: pdml.vmf_log_normalizer(7, t)):
        xg = x.to(CUDA).requires_grad_()
        assert close(f(xg), f(x), torch.float64)
        assert torch.autograd.gradcheck(f, (xg,))
    assert close(pdml.log_bessel_i(1.0, x.float().to(CUDA)), pdml.log_bessel_i(1.0, x.float()), torch.float32)


def test_similarity_matches_cpu_and_gradcheck():
    e, labels, p, k, s = problem()
    cpu = el_nivmf_similarity(s, p, k, 0.3, n_samples=S)
    inputs = tuple(leaves((s, p, k), CUDA)) + (
        torch.tensor(0.3, dtype=torch.float64, device=CUDA, requires_grad=True),)
    gpu = el_nivmf_similarity(*inputs, n_samples=S)
    assert gpu.device.type == CUDA and close(gpu, cpu, torch.float64)
    assert torch.autograd.gradcheck(lambda a, b, c, t: el_nivmf_similarity(a, b, c, t, n_samples=S), inputs)


def test_mixed_devices_and_unsupported_options_are_rejected():
    e, labels, p, k, s = problem()
    ec, lc, pc, kc = e.to(CUDA), labels.to(CUDA), p.to(CUDA), k.to(CUDA)
    with pytest.raises(ValueError, match="one device"):
        el_nivmf_loss(ec, lc, p, kc, 0.3)
    with pytest.raises(ValueError, match="one device"):
        el_nivmf_loss(ec, labels, pc, kc, 0.3)
    with pytest.raises(ValueError, match="one device"):
        el_nivmf_loss(ec, lc, pc, kc, 0.3, n_samples=S, samples=s)
    with pytest.raises(ValueError, match="one device"):
        pdml._C.vmf_log_prob(ec, s)  # the C++ glue checks too
    with pytest.raises(ValueError, match="one device"):
        pdml.VonMisesFisher(ec[:1], 2.0).log_prob(s[:1])
    with pytest.raises(ValueError, match="ignore_index.*CUDA"):
        el_nivmf_loss(ec, lc, pc, kc, 0.3, ignore_index=0)
    with pytest.raises(ValueError, match="reduction.*CUDA"):
        el_nivmf_loss(ec, lc, pc, kc, 0.3, reduction="none")
    with pytest.raises(ValueError, match="no CUDA implementation"):
        kl_divergence(pdml.VonMisesFisher(ec, 1.0), pdml.VonMisesFisher(ec, 2.0))
    with pytest.raises(ValueError, match="no CUDA implementation"):
        pdml.evaluate_retrieval(ec, lc)
