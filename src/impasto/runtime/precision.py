"""Arithmetic of the feature network: fp32, or autocast to bf16/fp16 where it pays."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from impasto.errors import InvalidOption

if TYPE_CHECKING:
    import torch


def resolve_precision(precision: str, device: torch.device) -> str:
    """Turn ``auto`` into a concrete choice for ``device``.

    CPU: bf16 autocast where the CPU has native bf16 dot products (AVX-512 BF16 or AMX); it
    halves VGG time at equal quality (see docs/benchmarks.md). CUDA: bf16 where supported.
    fp16 is only used when asked for: its narrow range needs loss scaling for the tiny
    pixel gradients of the relative losses.
    """
    if precision != "auto":
        if precision in ("bf16", "fp16") and device.type not in ("cpu", "cuda", "mps"):
            raise InvalidOption(f"precision {precision} is not available on {device.type}")
        return precision
    import torch

    if device.type == "cpu":
        fast = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
        amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
        return "bf16" if (fast or amx) else "fp32"
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "fp32"


@contextlib.contextmanager
def autocast(precision: str, device: torch.device) -> Iterator[None]:
    """Autocast context for a resolved precision (a no-op for fp32)."""
    if precision == "fp32":
        yield
        return
    import torch

    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield
