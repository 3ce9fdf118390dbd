# SPDX-License-Identifier: MIT
"""Argument checks and the random key shared by the package's entry points."""
import math

import torch

_KEY_BOUND = 2**62


def random_key(generator=None):
    """(seed, offset) for pdml's counter-based Philox streams, drawn from torch's generator
    (the default one unless `generator` is given), so torch.manual_seed reproduces runs."""
    key = torch.randint(0, _KEY_BOUND, (2,), dtype=torch.int64, generator=generator)
    return int(key[0]), int(key[1])


def check_tensor(name, value, fn):
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"pdml.{fn}: argument '{name}' must be a torch.Tensor, got {type(value).__name__}")
    if value.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"pdml.{fn}: argument '{name}' must be float32 or float64, got {value.dtype}")
    if value.is_cuda:
        raise ValueError(
            f"pdml.{fn}: argument '{name}' is a CUDA tensor, but this build of pdml has no CUDA "
            "kernels: move it to the CPU"
        )
    return value


def check_same_dtype(fn, reference_name, reference, **others):
    for name, value in others.items():
        if value.dtype != reference.dtype:
            raise TypeError(
                f"pdml.{fn}: argument '{name}' has dtype {value.dtype}, but '{reference_name}' has "
                f"{reference.dtype}: pass one dtype"
            )


def check_labels(labels, fn):
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"pdml.{fn}: argument 'labels' must be a torch.Tensor, got {type(labels).__name__}")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise TypeError(f"pdml.{fn}: argument 'labels' must have an integer dtype, got {labels.dtype}")
    if labels.is_cuda:
        raise ValueError(f"pdml.{fn}: argument 'labels' is a CUDA tensor; this build is CPU-only")
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
