"""Device names: resolving ``auto`` and checking that a named device exists.

The engines never choose a device by themselves; front ends resolve the user's choice
(``auto`` included) through :func:`impasto.runtime.choose_runtime` and report what it returned.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Literal, get_args

from impasto.errors import InvalidOption

if TYPE_CHECKING:
    import torch

DeviceName = Literal["auto", "cpu", "cuda", "mps"]
DEVICE_CHOICES: tuple[str, ...] = get_args(DeviceName)


#: Device files a GPU that PyTorch could use leaves on Linux: NVIDIA's driver, ROCm's, and
#: WSL's GPU bridge.
GPU_DEVICE_FILES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg")


def is_cpu(name: str | torch.device) -> bool:
    """Whether ``name`` resolves to the CPU, answered without importing PyTorch where it can
    be: ``auto`` is the CPU on a Linux machine with no GPU driver's device files (elsewhere,
    or once PyTorch is loaded, PyTorch is asked; any other name is checked as
    :func:`resolve_device` checks it)."""
    if not isinstance(name, str):
        return name.type == "cpu"
    base = name.split(":", 1)[0]
    if base == "cpu":
        return True
    if (base == "auto" and "torch" not in sys.modules and sys.platform.startswith("linux")
            and not any(os.path.exists(path) for path in GPU_DEVICE_FILES)):
        return True
    return resolve_device(name).type == "cpu"


def resolve_device(name: str | torch.device) -> torch.device:
    """``auto`` -> cuda, then mps, then cpu; a named device must be available."""
    import torch

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
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type
