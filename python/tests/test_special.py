# SPDX-License-Identifier: MIT
"""log I_v, I_{v+1}/I_v and log C_p against mpmath (50 digits) and closed forms;
gradients by torch.autograd.gradcheck (finite differences) in double."""
import math

import mpmath
import pytest
import torch

import pdml

mpmath.mp.dps = 50
POINTS = [(0.0, 0.5), (0.5, 2.0), (1.0, 1e-3), (2.5, 10.0), (63.0, 40.0), (255.0, 300.0), (10.0, 5000.0)]


@pytest.mark.parametrize("v,x", POINTS)
def test_log_bessel_i_and_ratio_match_mpmath(v, x):
    vt = torch.tensor([v], dtype=torch.float64)
    xt = torch.tensor([x], dtype=torch.float64)
    ref_log = float(mpmath.log(mpmath.besseli(v, x)))
    ref_ratio = float(mpmath.besseli(v + 1, x) / mpmath.besseli(v, x))
    assert pdml.log_bessel_i(vt, xt).item() == pytest.approx(ref_log, rel=1e-13, abs=1e-13)
    assert pdml.bessel_i_ratio(vt, xt).item() == pytest.approx(ref_ratio, rel=1e-13, abs=1e-15)


def test_float32_and_broadcasting():
    v = torch.tensor([[0.0], [1.5]], dtype=torch.float32)
    x = torch.tensor([0.5, 2.0, 30.0], dtype=torch.float32)
    out = pdml.log_bessel_i(v, x)
    assert out.shape == (2, 3) and out.dtype == torch.float32
    ref = [[float(mpmath.log(mpmath.besseli(vv, xx))) for xx in (0.5, 2.0, 30.0)] for vv in (0.0, 1.5)]
    assert torch.allclose(out.double(), torch.tensor(ref, dtype=torch.float64), rtol=1e-6)


@pytest.mark.parametrize("p", [3, 128])
def test_vmf_log_normalizer(p):
    kappa = torch.tensor([1e-4, 0.7, 16.0, 900.0], dtype=torch.float64)
    got = pdml.vmf_log_normalizer(p, kappa)
    for k, g in zip(kappa.tolist(), got.tolist()):
        v = p / 2 - 1
        ref = v * mpmath.log(k) - (p / 2) * mpmath.log(2 * mpmath.pi) - mpmath.log(mpmath.besseli(v, k))
        assert g == pytest.approx(float(ref), rel=1e-12, abs=1e-12)
    if p == 3:  # closed form C_3(k) = k / (4 pi sinh k)
        closed = torch.log(kappa / (4 * math.pi * torch.sinh(kappa)))
        assert torch.allclose(got[:3], closed[:3], rtol=1e-12)


def test_gradcheck_special_functions():
    v = torch.tensor([0.0, 0.5, 3.0, 40.0], dtype=torch.float64)
    x = torch.tensor([0.3, 2.0, 7.5, 55.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: pdml.log_bessel_i(v, t), (x,))
    assert torch.autograd.gradcheck(lambda t: pdml.bessel_i_ratio(v, t), (x,))
    kappa = torch.tensor([0.05, 1.0, 20.0, 400.0], dtype=torch.float64, requires_grad=True)
    for p in (2, 3, 64):
        assert torch.autograd.gradcheck(lambda k: pdml.vmf_log_normalizer(p, k), (kappa,))


def test_bad_arguments():
    with pytest.raises(TypeError):
        pdml.log_bessel_i(0.0, torch.tensor([1, 2]))
    with pytest.raises(ValueError):
        pdml.vmf_log_normalizer(1, torch.tensor([1.0]))
    with pytest.raises(ValueError):
        pdml.log_bessel_i(torch.tensor([1.0], requires_grad=True), torch.tensor([1.0]))
    assert torch.isnan(pdml.log_bessel_i(0.0, torch.tensor([-1.0], dtype=torch.float64))).all()
