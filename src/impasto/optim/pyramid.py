"""Sizes and step budgets of the coarse-to-fine pyramid."""

from __future__ import annotations

import math

from impasto.image.resize import fit_long_side

__all__ = ["auto_scales", "fit_long_side", "scale_sides", "split_steps"]

#: The coarsest scale's long side in automatic mode: big enough for relu5_1 to see structure.
MIN_AUTO_SIDE = 192


def auto_scales(long_side: int) -> int:
    """Scales so that each is at most twice the previous and the first is ~MIN_AUTO_SIDE px."""
    if long_side <= MIN_AUTO_SIDE * 1.25:
        return 1
    return 1 + math.ceil(math.log2(long_side / MIN_AUTO_SIDE))


def scale_sides(long_side: int, scales: int) -> list[int]:
    """Long sides of the pyramid, coarse to fine, geometric, ending at ``long_side``.

    ``scales == 0`` picks :func:`auto_scales`. Each level is at most twice the previous one and
    never below 64 px, where VGG-19's deepest style layers have almost nothing left to see.
    """
    n = auto_scales(long_side) if scales == 0 else scales
    if n <= 1:
        return [long_side]
    start = max(min(64, long_side), long_side / 2 ** (n - 1))
    if scales == 0:
        start = max(start, min(MIN_AUTO_SIDE, long_side))
    ratio = (long_side / start) ** (1 / (n - 1))
    sides = [round(start * ratio**i) for i in range(n)]
    sides[-1] = long_side
    return sides


def split_steps(sides: list[int], total: int) -> list[int]:
    """Share ``total`` steps between scales, more where they are cheap.

    Steps go in proportion to 1/side (inverse square root of the pixel count): coarse scales
    settle the layout in many cheap steps, fine scales refine it in few costly ones.
    """
    if total <= 0:
        return [0] * len(sides)
    weights = [1.0 / s for s in sides]
    norm = sum(weights)
    raw = [total * w / norm for w in weights]
    steps = [math.floor(r) for r in raw]
    # Hand out the remainder by largest fractional part, finest scale first on ties.
    order = sorted(range(len(sides)), key=lambda i: (raw[i] - steps[i], i), reverse=True)
    for i in order[: total - sum(steps)]:
        steps[i] += 1
    return steps
