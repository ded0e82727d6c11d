"""Progress events, the callback protocol and cooperative cancellation.

The engine never prints: a progress bar is one callback, a preview writer another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch

from impasto.errors import Cancelled


@dataclass(frozen=True)
class Progress:
    """One optimisation step (or a stage change) of a run."""

    stage: str  # "prepare", "step", "scale_done", "done"
    scale: int  # 1-based index of the current scale
    n_scales: int
    step: int  # steps done over all scales
    total_steps: int
    scale_step: int  # steps done in this scale
    scale_steps: int
    height: int
    width: int
    loss: float
    losses: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0
    #: Fraction of the run's work done (steps weighted by their pixel count), for ETAs.
    work_done: float = 0.0
    #: A snapshot of the current image (B, 3, H, W) in [0, 1] on the CPU, on preview steps only.
    image: torch.Tensor | None = None
    #: Core side of the tiles this scale is optimised in (pixels); None when in one piece.
    tile: int | None = None


class Callback(Protocol):
    def __call__(self, event: Progress) -> None: ...


CallbackLike = Callback | Callable[[Progress], None]


class CancelToken:
    """Thread-safe flag: call :meth:`cancel` from anywhere; the engine stops at the next step."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled")
