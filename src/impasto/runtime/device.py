"""Device names: resolving ``auto`` and checking that a named device exists.

The engines never choose a device by themselves; front ends resolve the user's choice
(``auto`` included) through :func:`impasto.runtime.choose_runtime` and report what it returned.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch

from impasto.errors import InvalidOption

DeviceName = Literal["auto", "cpu", "cuda", "mps"]
DEVICE_CHOICES: tuple[str, ...] = get_args(DeviceName)


def resolve_device(name: str | torch.device) -> torch.device:
    """``auto`` -> cuda, then mps, then cpu; a named device must be available."""
    if isinstance(name, torch.device):
        return name
    base = name.split(":", 1)[0]
    if base not in DEVICE_CHOICES:
        raise InvalidOption(f"device must be one of {', '.join(DEVICE_CHOICES)}, not {name!r}")
    if base == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise InvalidOption("device cuda was asked for, but this PyTorch build sees no CUDA GPU")
    if base == "mps" and not torch.backends.mps.is_available():
        raise InvalidOption("device mps was asked for, but it is not available here")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise InvalidOption(f"invalid device {name!r}: {exc}") from None


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type
