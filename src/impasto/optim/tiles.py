"""Tile planning and geometry for the tiled optimisation (:mod:`impasto.optim.tiled`).

How large a piece of a picture one step may optimise within a memory budget
(:func:`plan_tiles`, from the byte estimates :func:`untiled_bytes` and :func:`tiled_bytes`), how
long the L-BFGS history of an untiled step may be (:func:`history_size`), and how tiles cover a
picture (:func:`tiles`: cores that partition it, on a grid that moves with a phase, plus a margin
of context). Nothing here runs a network: the solver that uses these is in
:mod:`impasto.optim.tiled`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from impasto.features.vgg import LAYER_NAMES

#: Tile cores, margins and grid offsets are multiples of this: the stride of relu5_1, so every
#: feature map crops cleanly.
ALIGN = 16
#: Context around each tile's core.
DEFAULT_MARGIN = 64
#: Smallest tile core worth running.
MIN_TILE = 128
#: Bytes per pixel of one forward and backward pass through VGG-19 to relu5_1 (measured:
#: about 1.7 KB in bf16 and 3.3 KB in fp32 at 512-1024 px, benchmarks/memory.py; rounded up).
BYTES_PER_PIXEL = {"bf16": 2048, "fp16": 2048, "fp32": 4096}
#: Memory of an untiled step besides the L-BFGS history: a fixed part (style targets, the
#: style picture, allocator slack) and bytes per pixel (VGG's forward and backward, the picture,
#: its gradient, L-BFGS work vectors, content picture and features). Measured with
#: runs of 2 steps: 589 MiB at 512 x 512 and 1455 MiB at 1024 x 1024 in bf16 above
#: the process's baseline (history included); rounded up. fp32 is taken as twice bf16.
UNTILED_FIXED_BYTES = 256 << 20
UNTILED_BYTES_PER_PIXEL = {"bf16": 1408, "fp16": 1408, "fp32": 2816}
#: Bytes per output pixel that a tiled scale keeps whole: the picture (float32 RGB), the content
#: picture and, while the style targets are computed, a style picture as large as the output
#: (8-bit RGB each: they come from 8-bit files, and the optimised picture stays float32).
TILED_BYTES_PER_PIXEL = 12 + 3 + 3
#: Share of the memory left to a run that its tiles are planned into: the rest absorbs what the
#: model does not count (allocator slack, transients between scales; a 2 GB run peaked 9.5 %
#: over its budget without it).
PLAN_SHARE = 0.9
#: L-BFGS history bounds at untiled scales that run under a budget (two picture-sized vectors
#: an entry).
MIN_HISTORY, MAX_HISTORY = 3, 50
#: L-BFGS steps on a tile per visit (and its history length): the solver's, counted here by
#: the memory estimate of a tile's step.
INNER_STEPS = 8


def stride_of(layer: str) -> int:
    """Downsampling factor of a layer's feature map (1 for block 1 ... 16 for block 5)."""
    pools_before = sum(1 for n in LAYER_NAMES[: LAYER_NAMES.index(layer)] if n.startswith("pool"))
    return 2**pools_before


@dataclass(frozen=True)
class TilePlan:
    """Core size (square) and margin of the tiles, in pixels."""

    core: int
    margin: int = DEFAULT_MARGIN

    def needed(self, height: int, width: int) -> bool:
        return height > self.core or width > self.core


def _untiled_step_bytes(height: int, width: int, precision: str) -> int:
    per_pixel = UNTILED_BYTES_PER_PIXEL.get(precision, UNTILED_BYTES_PER_PIXEL["fp32"])
    return UNTILED_FIXED_BYTES + height * width * per_pixel


def history_size(height: int, width: int, budget_bytes: int, precision: str = "bf16") -> int:
    """L-BFGS history of an untiled step that fits in what ``budget_bytes`` (the memory left to
    the run) leaves after the step itself; at least :data:`MIN_HISTORY`."""
    per_entry = 2 * height * width * 3 * 4
    spare = int(budget_bytes * PLAN_SHARE) - _untiled_step_bytes(height, width, precision)
    return max(MIN_HISTORY, min(MAX_HISTORY, spare // per_entry))


def untiled_bytes(height: int, width: int, budget_bytes: int, precision: str) -> int:
    """Estimated memory of one untiled step at this size, its smallest L-BFGS history included
    (:func:`history_size` gives it whatever else the budget leaves)."""
    return (_untiled_step_bytes(height, width, precision)
            + MIN_HISTORY * 2 * height * width * 3 * 4)


def tiled_bytes(height: int, width: int, plan: TilePlan, precision: str) -> int:
    """Estimated memory of a tiled scale: the whole-picture buffers and one tile's step (its
    L-BFGS state over the core included)."""
    per_pixel = BYTES_PER_PIXEL.get(precision, BYTES_PER_PIXEL["fp32"])
    side = plan.core + 2 * plan.margin
    core_state = (2 * INNER_STEPS + 4) * plan.core**2 * 3 * 4
    return height * width * TILED_BYTES_PER_PIXEL + side * side * per_pixel + core_state


def plan_tiles(height: int, width: int, budget_bytes: int, precision: str,
               margin: int = DEFAULT_MARGIN) -> TilePlan | None:
    """The tiles that keep a step of an (height x width) picture within ``budget_bytes``
    (the memory left to the run); None when the whole picture fits in one piece. The smallest
    tiles (:data:`MIN_TILE`) when even they do not fit: see :func:`tiled_bytes`."""
    budget_bytes = int(budget_bytes * PLAN_SHARE)
    if untiled_bytes(height, width, budget_bytes, precision) <= budget_bytes:
        return None
    per_pixel = BYTES_PER_PIXEL.get(precision, BYTES_PER_PIXEL["fp32"])
    room = budget_bytes - height * width * TILED_BYTES_PER_PIXEL
    per_core_pixel = per_pixel + (2 * INNER_STEPS + 4) * 3 * 4
    side = int(math.sqrt(max(room, 0) / per_core_pixel)) - 2 * margin
    core = max(MIN_TILE, side // ALIGN * ALIGN)
    return TilePlan(core=core, margin=margin)


@dataclass(frozen=True)
class Tile:
    """A core region [y0, y1) x [x0, x1) and the input region around it, in pixels."""

    y0: int
    y1: int
    x0: int
    x1: int
    in_y0: int
    in_y1: int
    in_x0: int
    in_x1: int

    def feature_core(self, stride: int) -> tuple[slice, slice]:
        """Where the core lies in the feature map of the input region at ``stride``."""
        return (slice((self.y0 - self.in_y0) // stride, (self.y1 - self.in_y0) // stride),
                slice((self.x0 - self.in_x0) // stride, (self.x1 - self.in_x0) // stride))


def cut_positions(length: int, core: int, phase: float) -> list[int]:
    """Cut positions splitting ``length`` into pieces of at most ``core`` and, when ``length``
    exceeds ``core``, at least :func:`min_piece` (a third of ``core``); every cut is a multiple
    of :data:`ALIGN` (``core`` is one, so the pieces are too but the last where ``length`` is
    not).

    The pieces are as long as the budget allows and as even as whole steps of :data:`ALIGN`
    let them be, ``n = ceil(length / core)`` of them, on a grid shifted by ``phase`` (in
    [0, 1)) of a piece. The shift leaves a shorter piece at each end; an end piece shorter than
    :func:`min_piece` (a sliver: its margins would cost more than its core) joins its neighbour
    where the two fit in ``core``, and otherwise shares their length with it, half each (each
    half then longer than half a core, since together they exceed one).
    """
    if length <= core:
        return [0, length]
    units, most = math.ceil(length / ALIGN), max(1, core // ALIGN)  # the last may be partial
    n = math.ceil(units / most)
    sizes = [units // n + (k < units % n) for k in range(n)]
    shift = int(phase * sizes[-1])
    grid = itertools.accumulate(sizes[:-1], initial=shift)
    cuts = [0, *(k * ALIGN for k in grid if 0 < k < units), length]
    shortest = min_piece(core)
    for _ in range(len(cuts)):
        sides = [b - a for a, b in itertools.pairwise(cuts)]
        if len(sides) < 2 or min(sides) >= shortest:
            break
        k = sides.index(min(sides))
        # The cut between the sliver and its neighbour towards the middle moves or goes.
        cut = k + 1 if k + 1 < len(sides) else k
        lo, hi = cuts[cut - 1], cuts[cut + 1]
        if hi - lo <= core:
            del cuts[cut]
        else:
            cuts[cut] = lo + round((hi - lo) / 2 / ALIGN) * ALIGN
    return cuts


def min_piece(core: int) -> int:
    """The shortest side of a tile core that :func:`cut_positions` makes when it cuts at all:
    a third of ``core``, rounded up to whole steps of :data:`ALIGN`."""
    return math.ceil(core / 3 / ALIGN) * ALIGN


def tiles(height: int, width: int, plan: TilePlan, phase: tuple[float, float] = (0.0, 0.0)
          ) -> Iterator[Tile]:
    """Cover an (height x width) picture (multiples of ALIGN) with tiles on a grid shifted by
    ``phase`` (fractions of a tile, per axis); cores partition the picture, inputs add the
    margin within the picture."""
    ys, xs = cut_positions(height, plan.core, phase[0]), cut_positions(width, plan.core, phase[1])
    m = plan.margin
    for y0, y1 in itertools.pairwise(ys):
        for x0, x1 in itertools.pairwise(xs):
            yield Tile(y0, y1, x0, x1, max(0, y0 - m), min(height, y1 + m),
                       max(0, x0 - m), min(width, x1 + m))


def quantise(image: torch.Tensor) -> torch.Tensor:
    """A picture in [0, 1] as 8-bit values (a quarter of its float32 footprint), for pictures
    that come from 8-bit files: the content and style pictures of a tiled scale."""
    return image.clamp(0.0, 1.0).mul(255.0).round_().to(torch.uint8)
