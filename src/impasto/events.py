"""Progress events, the callback protocol and cooperative cancellation, for every method.

The engines never print: a progress bar is one callback, a preview writer another, the web
page's live preview a third. Every run reports ``start`` and ``done``; the optimiser reports
each ``step`` in between (with a preview picture on preview steps).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from impasto.errors import Cancelled

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Progress:
    """One step of a run, or its start or end."""

    stage: str  # "start", "step", "done"
    scale: int = 0  # 1-based index of the current scale (optimisation)
    n_scales: int = 0
    step: int = 0  # steps done over all scales
    total_steps: int = 0
    scale_step: int = 0  # steps done in this scale
    scale_steps: int = 0
    height: int = 0
    width: int = 0
    loss: float = float("nan")
    losses: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0
    #: Fraction of the run's work done (steps weighted by their pixel count), for ETAs.
    work_done: float = 0.0
    #: A snapshot of the current image (B, 3, H, W) in [0, 1] on the CPU, on preview steps only.
    image: torch.Tensor | None = None
    #: Core side of the tiles this scale is optimised in (pixels); None when in one piece.
    tile: int | None = None
    #: The method of the run: optimize, network, adain or wct.
    method: str = ""


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
