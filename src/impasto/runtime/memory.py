"""Memory budgets: parsing ``--max-memory`` and the default from the machine's free memory."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from impasto.errors import InvalidOption

if TYPE_CHECKING:
    import torch

_UNITS = {"": 1 << 30, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
          "g": 1 << 30, "gb": 1 << 30, "t": 1 << 40, "tb": 1 << 40}
#: Share of the free memory a run may plan for when no budget is given.
AUTO_SHARE = 0.6
#: Smallest budget accepted.
MIN_BUDGET = 256 << 20


def parse_memory(text: str) -> int | None:
    """``"8GB"``, ``"512MB"``, ``"6"`` (GB) -> bytes; ``"auto"`` -> None."""
    value = text.strip().lower()
    if value == "auto":
        return None
    found = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(b|kb?|mb?|gb?|tb?)?", value.replace("ib", "b"))
    if not found:
        raise InvalidOption(f"max-memory must look like 8GB, 512MB or auto, not {text!r}")
    size = int(float(found.group(1)) * _UNITS[found.group(2) or ""])
    if size < MIN_BUDGET:
        raise InvalidOption(f"max-memory must be at least 256MB, not {text!r}")
    return size


def available_memory(device: torch.device) -> int:
    """Free memory on ``device`` in bytes (CUDA: free GPU memory; else the system's)."""
    if device.type == "cuda":
        import torch

        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 << 30  # no /proc (macOS, Windows): assume a modest machine


def memory_budget(text: str, device: torch.device) -> int:
    """The budget in bytes: the user's, or :data:`AUTO_SHARE` of the free memory."""
    parsed = parse_memory(text)
    if parsed is not None:
        return parsed
    return max(MIN_BUDGET, int(available_memory(device) * AUTO_SHARE))


def resident_bytes(device: torch.device) -> int:
    """Memory this process holds now on ``device`` (CUDA: allocated tensors; else the resident
    set size), the baseline a run's budget is planned on top of."""
    if device.type == "cuda":
        import torch

        return int(torch.cuda.memory_allocated(device))
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def format_bytes(size: float) -> str:
    """``1536 << 20`` -> ``"1.5GB"``."""
    for unit, scale in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20)):
        if size >= scale:
            return f"{size / scale:.1f}{unit}"
    return f"{size / (1 << 20):.2f}MB"


def release_memory(*, collect: bool = True) -> None:
    """Hand freed heap memory back to the system: between an optimisation's scales (glibc
    keeps it otherwise, and the next, larger scale stacks its peak on top of the last one's),
    and every few items of a batch (without it, a long batch's resident memory creeps up by
    the heap's fragments). ``collect=False`` skips Python's cycle collection (tens of
    milliseconds with torch loaded), for callers that make no cycles."""
    if collect:
        gc.collect()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)
