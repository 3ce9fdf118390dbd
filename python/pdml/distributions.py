# SPDX-License-Identifier: MIT
"""vMF-family distributions on the unit sphere S^(p-1) as torch.distributions, sampled by
pdml's exact samplers with their exact reparameterization gradients.

Samples of batch element n, draw s, are row s N + n of pdml's batched samplers, drawn from
the Philox stream (seed, offset, s N + n); the key comes from torch's generator, so
torch.manual_seed makes sampling reproducible."""
import math

import torch
from torch.distributions import Distribution, constraints, register_kl

from . import _C
from . import special as _special
from ._common import check_tensor, random_key


def _num_draws(sample_shape):
    count = 1
    for size in sample_shape:
        count *= int(size)
    return count


class _VmfSample(torch.autograd.Function):
    """Samples of vMF(eta_n); backward: implicit reparameterization in kappa, pathwise in mu."""

    @staticmethod
    def forward(ctx, eta, n_samples, seed, offset):
        samples, state = _C.vmf_sample(eta, n_samples, seed, offset)
        ctx.state = state
        return samples

    @staticmethod
    def backward(ctx, grad_samples):
        return _C.vmf_sample_backward(ctx.state, grad_samples.contiguous()), None, None, None


class _VmfLogProb(torch.autograd.Function):
    @staticmethod
    def forward(ctx, eta, points):
        ctx.save_for_backward(eta, points)
        return _C.vmf_log_prob(eta, points)

    @staticmethod
    def backward(ctx, grad):
        eta, points = ctx.saved_tensors
        grad_eta, grad_points = _C.vmf_log_prob_backward(eta, points, grad.contiguous())
        return grad_eta, grad_points


class _VmfKl(torch.autograd.Function):
    @staticmethod
    def forward(ctx, eta1, eta2):
        ctx.save_for_backward(eta1, eta2)
        return _C.vmf_kl(eta1, eta2)

    @staticmethod
    def backward(ctx, grad):
        eta1, eta2 = ctx.saved_tensors
        return _C.vmf_kl_backward(eta1, eta2, grad.contiguous())


class _PowerSphericalSample(torch.autograd.Function):
    @staticmethod
    def forward(ctx, loc, concentration, n_samples, seed, offset):
        samples, state = _C.power_spherical_sample(loc, concentration, n_samples, seed, offset)
        ctx.state = state
        return samples

    @staticmethod
    def backward(ctx, grad_samples):
        grad_loc, grad_conc = _C.power_spherical_sample_backward(ctx.state, grad_samples.contiguous())
        return grad_loc, grad_conc, None, None, None


class _PowerSphericalLogProb(torch.autograd.Function):
    @staticmethod
    def forward(ctx, loc, concentration, points):
        ctx.save_for_backward(loc, concentration, points)
        return _C.power_spherical_log_prob(loc, concentration, points)

    @staticmethod
    def backward(ctx, grad):
        loc, concentration, points = ctx.saved_tensors
        return _C.power_spherical_log_prob_backward(loc, concentration, points, grad.contiguous())


class _NivmfSample(torch.autograd.Function):
    @staticmethod
    def forward(ctx, loc, concentrations, n_samples, seed, offset):
        samples, state = _C.nivmf_sample(loc, concentrations, n_samples, seed, offset)
        ctx.state = state
        return samples

    @staticmethod
    def backward(ctx, grad_samples):
        grad_loc, grad_conc = _C.nivmf_sample_backward(ctx.state, grad_samples.contiguous())
        return grad_loc, grad_conc, None, None, None


class _NivmfLogProb(torch.autograd.Function):
    @staticmethod
    def forward(ctx, loc, concentrations, points):
        ctx.save_for_backward(loc, concentrations, points)
        return _C.nivmf_log_prob(loc, concentrations, points)

    @staticmethod
    def backward(ctx, grad):
        loc, concentrations, points = ctx.saved_tensors
        return _C.nivmf_log_prob_backward(loc, concentrations, points, grad.contiguous())


class _SphericalDistribution(Distribution):
    """Shared shape handling: batch_shape = loc.shape[:-1], event_shape = (p,)."""

    has_rsample = True

    def _setup(self, name, loc, validate_args):
        check_tensor("loc", loc, name, cuda=True)
        if loc.dim() < 1 or loc.shape[-1] < 2:
            raise ValueError(f"pdml.{name}: argument 'loc' must have a last dimension p >= 2, got shape {tuple(loc.shape)}")
        self._name = name
        super().__init__(loc.shape[:-1], loc.shape[-1:], validate_args=validate_args)

    @property
    def _p(self):
        return self.event_shape[0]

    def _rows(self, tensor):
        """(N, k) rows of a batch_shape + (k,) tensor, in batch order."""
        return tensor.reshape(-1, tensor.shape[-1]).contiguous()

    def _points(self, value):
        """value broadcast to extra + batch_shape + (p,), as rows (row s N + n under n)."""
        check_tensor("value", value, f"{self._name}.log_prob", cuda=True)
        if value.dtype != self.loc.dtype:
            raise TypeError(f"pdml.{self._name}.log_prob: argument 'value' must have dtype {self.loc.dtype}")
        if value.device != self.loc.device:
            raise ValueError(f"pdml.{self._name}.log_prob: argument 'value' is on {value.device}, but 'loc' is on "
                             f"{self.loc.device}: pass every tensor on one device")
        shape = torch.broadcast_shapes(value.shape, self.batch_shape + self.event_shape)
        extra = shape[: len(shape) - len(self.batch_shape) - 1]
        return value.expand(shape).reshape(-1, self._p).contiguous(), extra + self.batch_shape

    def _draw_shape(self, sample_shape):
        return torch.Size(sample_shape) + self.batch_shape + self.event_shape

    def sample(self, sample_shape=torch.Size()):
        with torch.no_grad():
            return self.rsample(sample_shape)


class VonMisesFisher(_SphericalDistribution):
    """vMF(mu, kappa) with mu = loc / |loc| and kappa = concentration >= 0 (broadcast to
    loc.shape[:-1]). rsample is pdml's exact sampler (Wood's algorithm) with the exact
    implicit-reparameterization gradient in the concentration and the pathwise one in loc."""

    arg_constraints = {"loc": constraints.real_vector, "concentration": constraints.nonnegative}
    support = constraints.real_vector

    def __init__(self, loc, concentration, validate_args=None):
        check_tensor("loc", loc, "VonMisesFisher", cuda=True)
        if not isinstance(concentration, torch.Tensor):
            concentration = torch.tensor(concentration, dtype=loc.dtype, device=loc.device)
        check_tensor("concentration", concentration, "VonMisesFisher", cuda=True)
        if concentration.dtype != loc.dtype:
            raise TypeError("pdml.VonMisesFisher: 'loc' and 'concentration' must have one dtype")
        if concentration.device != loc.device:
            raise ValueError(f"pdml.VonMisesFisher: 'loc' is on {loc.device} but 'concentration' is on "
                             f"{concentration.device}: pass every tensor on one device")
        self.loc = loc
        self.concentration = concentration.expand(loc.shape[:-1])
        self._setup("VonMisesFisher", loc, validate_args)

    @property
    def direction(self):
        return self.loc / self.loc.norm(dim=-1, keepdim=True)

    @property
    def natural_parameters(self):
        """eta = kappa mu, the parameterization of pdml's vMF functions."""
        return self.direction * self.concentration.unsqueeze(-1)

    def rsample(self, sample_shape=torch.Size(), generator=None):
        draws = _num_draws(sample_shape)
        seed, offset = random_key(generator)
        samples = _VmfSample.apply(self._rows(self.natural_parameters), draws, seed, offset)
        return samples.reshape(self._draw_shape(sample_shape))

    def log_prob(self, value):
        points, shape = self._points(value)
        return _VmfLogProb.apply(self._rows(self.natural_parameters), points).reshape(shape)

    def entropy(self):
        return _special.dimension_function(_special.VMF_ENTROPY, _special.VMF_ENTROPY_DERIVATIVE,
                                           self._p, self.concentration)

    @property
    def mean(self):
        resultant = _special.dimension_function(_special.VMF_MEAN_RESULTANT,
                                                _special.VMF_MEAN_RESULTANT_DERIVATIVE,
                                                self._p, self.concentration)
        return resultant.unsqueeze(-1) * self.direction

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        return VonMisesFisher(self.loc.expand(batch_shape + self.event_shape),
                              self.concentration.expand(batch_shape))


@register_kl(VonMisesFisher, VonMisesFisher)
def _kl_vmf_vmf(p, q):
    if p.event_shape != q.event_shape:
        raise ValueError("pdml: kl_divergence of vMFs on spheres of different dimension")
    shape = torch.broadcast_shapes(p.batch_shape, q.batch_shape)
    eta_p = p.natural_parameters.expand(shape + p.event_shape)
    eta_q = q.natural_parameters.expand(shape + q.event_shape)
    return _VmfKl.apply(p._rows(eta_p), q._rows(eta_q)).reshape(shape)


class PowerSpherical(_SphericalDistribution):
    """Power Spherical(mu, kappa) (De Cao and Aziz, 2020): loc must be unit vectors (pdml
    checks them), concentration >= 0. rsample and log_prob are pdml's, with exact gradients;
    entropy and mean are closed forms. pdml has no KL between two Power Sphericals, so none is
    registered."""

    arg_constraints = {"loc": constraints.real_vector, "concentration": constraints.nonnegative}
    support = constraints.real_vector

    def __init__(self, loc, concentration, validate_args=None):
        check_tensor("loc", loc, "PowerSpherical", cuda=True)
        if not isinstance(concentration, torch.Tensor):
            concentration = torch.tensor(concentration, dtype=loc.dtype, device=loc.device)
        check_tensor("concentration", concentration, "PowerSpherical", cuda=True)
        if concentration.dtype != loc.dtype:
            raise TypeError("pdml.PowerSpherical: 'loc' and 'concentration' must have one dtype")
        if concentration.device != loc.device:
            raise ValueError(f"pdml.PowerSpherical: 'loc' is on {loc.device} but 'concentration' is on "
                             f"{concentration.device}: pass every tensor on one device")
        self.loc = loc
        self.concentration = concentration.expand(loc.shape[:-1])
        self._setup("PowerSpherical", loc, validate_args)

    def rsample(self, sample_shape=torch.Size(), generator=None):
        draws = _num_draws(sample_shape)
        seed, offset = random_key(generator)
        samples = _PowerSphericalSample.apply(self._rows(self.loc), self.concentration.reshape(-1, 1).contiguous(),
                                              draws, seed, offset)
        return samples.reshape(self._draw_shape(sample_shape))

    def log_prob(self, value):
        points, shape = self._points(value)
        return _PowerSphericalLogProb.apply(self._rows(self.loc), self.concentration.reshape(-1, 1).contiguous(),
                                            points).reshape(shape)

    def entropy(self):
        return _special.dimension_function(_special.POWER_SPHERICAL_ENTROPY,
                                           _special.POWER_SPHERICAL_ENTROPY_DERIVATIVE,
                                           self._p, self.concentration)

    @property
    def mean(self):
        resultant = _special.dimension_function(_special.POWER_SPHERICAL_MEAN_RESULTANT,
                                                _special.POWER_SPHERICAL_MEAN_RESULTANT_DERIVATIVE,
                                                self._p, self.concentration)
        return resultant.unsqueeze(-1) * self.loc


class NonIsotropicVonMisesFisher(_SphericalDistribution):
    """The paper's nivMF(nu, k): direction nu = loc / |loc|, one concentration per dimension
    (`concentrations`, positive, the shape of loc). rsample is pdml's exact sampler (the
    pushforward of vMF(K nu / |K nu|, |K nu|)) with exact gradients; log_prob the exact
    normalized density. pdml has no closed-form entropy, mean or KL for nivMF, so those are
    not provided."""

    arg_constraints = {"loc": constraints.real_vector, "concentrations": constraints.independent(constraints.positive, 1)}
    support = constraints.real_vector

    def __init__(self, loc, concentrations, validate_args=None):
        check_tensor("loc", loc, "NonIsotropicVonMisesFisher", cuda=True)
        check_tensor("concentrations", concentrations, "NonIsotropicVonMisesFisher", cuda=True)
        if concentrations.dtype != loc.dtype:
            raise TypeError("pdml.NonIsotropicVonMisesFisher: 'loc' and 'concentrations' must have one dtype")
        if concentrations.device != loc.device:
            raise ValueError(f"pdml.NonIsotropicVonMisesFisher: 'loc' is on {loc.device} but 'concentrations' is on "
                             f"{concentrations.device}: pass every tensor on one device")
        shape = torch.broadcast_shapes(loc.shape, concentrations.shape)
        self.loc = loc.expand(shape)
        self.concentrations = concentrations.expand(shape)
        self._setup("NonIsotropicVonMisesFisher", self.loc, validate_args)

    @property
    def direction(self):
        return self.loc / self.loc.norm(dim=-1, keepdim=True)

    def rsample(self, sample_shape=torch.Size(), generator=None):
        draws = _num_draws(sample_shape)
        seed, offset = random_key(generator)
        samples = _NivmfSample.apply(self._rows(self.direction), self._rows(self.concentrations), draws, seed, offset)
        return samples.reshape(self._draw_shape(sample_shape))

    def log_prob(self, value):
        points, shape = self._points(value)
        return _NivmfLogProb.apply(self._rows(self.direction), self._rows(self.concentrations), points).reshape(shape)
