# SPDX-License-Identifier: MIT
"""Argument checks and the random key shared by the package's entry points."""
import math

import torch

from . import _C

_KEY_BOUND = 2**62


def random_key(generator=None):
    """(seed, offset) for pdml's counter-based Philox streams, drawn from torch's generator
    (the default one unless `generator` is given), so torch.manual_seed reproduces runs.

    The default generator is the CPU one for CPU and CUDA tensors alike: the CUDA samplers
    draw the same samples as the CPU ones for the same key, and reading the key costs no
    device synchronization. A CUDA `generator` is accepted (its key is read back to the host)."""
    device = generator.device if generator is not None else "cpu"
    key = torch.randint(0, _KEY_BOUND, (2,), dtype=torch.int64, generator=generator, device=device).tolist()
    return int(key[0]), int(key[1])


def check_device(name, value, fn, cuda):
    """CPU tensors everywhere; CUDA tensors where the entry point has a CUDA path (`cuda`)
    and the extension was built with pdml's CUDA kernels."""
    if value.is_cuda:
        if not _C.has_cuda():
            raise ValueError(
                f"pdml.{fn}: argument '{name}' is a CUDA tensor, but this build of pdml has no CUDA "
                "kernels (it was built against a torch without CUDA): move it to the CPU")
        if not cuda:
            raise ValueError(
                f"pdml.{fn}: argument '{name}' is a CUDA tensor, but pdml.{fn} has no CUDA "
                "implementation: move it to the CPU")
    elif value.device.type != "cpu":
        raise ValueError(f"pdml.{fn}: argument '{name}' is on {value.device}; pdml takes CPU or CUDA tensors")


def check_tensor(name, value, fn, cuda=False):
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"pdml.{fn}: argument '{name}' must be a torch.Tensor, got {type(value).__name__}")
    if value.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"pdml.{fn}: argument '{name}' must be float32 or float64, got {value.dtype}")
    check_device(name, value, fn, cuda)
    return value


def check_same_dtype(fn, reference_name, reference, **others):
    """One dtype and one device for all tensors."""
    for name, value in others.items():
        if value.device != reference.device:
            raise ValueError(
                f"pdml.{fn}: argument '{name}' is on {value.device}, but '{reference_name}' is on "
                f"{reference.device}: pass every tensor on one device")
        if value.dtype != reference.dtype:
            raise TypeError(
                f"pdml.{fn}: argument '{name}' has dtype {value.dtype}, but '{reference_name}' has "
                f"{reference.dtype}: pass one dtype"
            )


def check_labels(labels, fn, cuda=False):
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"pdml.{fn}: argument 'labels' must be a torch.Tensor, got {type(labels).__name__}")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise TypeError(f"pdml.{fn}: argument 'labels' must have an integer dtype, got {labels.dtype}")
    check_device("labels", labels, fn, cuda)
    if labels.dtype not in (torch.int32, torch.int64):  # pdml reads int32 and int64 in place
        labels = labels.to(torch.int64)
    return labels.contiguous()


def check_temperature(temperature, reference, fn):
    """A float or a one-element tensor, returned as a 0-d tensor of reference's dtype."""
    if isinstance(temperature, torch.Tensor):
        if temperature.numel() != 1:
            raise ValueError(
                f"pdml.{fn}: argument 'temperature' must have one element, got shape {tuple(temperature.shape)}")
        return temperature.reshape(())
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool):
        raise TypeError(f"pdml.{fn}: argument 'temperature' must be a float or a tensor")
    if not math.isfinite(temperature):
        raise ValueError(f"pdml.{fn}: argument 'temperature' must be finite")
    return torch.tensor(float(temperature), dtype=reference.dtype)
