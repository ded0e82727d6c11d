"""Sizes and step budgets of the coarse-to-fine pyramid."""

from __future__ import annotations

import math

from impasto.image.resize import fit_long_side

__all__ = ["auto_scales", "fit_long_side", "progressive_steps", "scale_sides", "schedule",
           "split_steps"]

#: Style images are never resized below this long side (relu5_1 would see 4 x 4 positions).
MIN_STYLE_SIDE = 64
#: The coarsest scale's long side in automatic mode: big enough for relu5_1 to see structure.
MIN_AUTO_SIDE = 192
#: The same from the AdaIN start, whose picture has the structure already: the coarse scale
#: only settles the style's layout, in cheaper steps (chosen on the validation split:
#: experiments/NOTES.md, "A coarser first scale, and the finest scale over four sizes").
PROGRESSIVE_MIN_SIDE = 128
#: Steps of a run from the AdaIN start (the default) at the coarsest scale, at each middle
#: scale and at the finest: the style is already there, so the middle scales only carry the
#: picture up, and the steps go where they are cheap (the layout) and where they buy the
#: content's detail (the finest). Chosen on the validation split against the photo start's
#: 300 steps (experiments/NOTES.md; docs/benchmarks.md "The cost of a picture in VGG steps").
PROGRESSIVE_STEPS = (60, 20, 39)
#: Steps in total of a run from the photo or from noise (split by :func:`split_steps`).
CLASSIC_STEPS = 300


def auto_scales(long_side: int, smallest: int = MIN_AUTO_SIDE) -> int:
    """Scales so that each is at most twice the previous and the first is ~``smallest`` px."""
    if long_side <= smallest * 1.25:
        return 1
    return 1 + math.ceil(math.log2(long_side / smallest))


def scale_sides(long_side: int, scales: int, start: str = "content") -> list[int]:
    """Long sides of the pyramid, coarse to fine, geometric, ending at ``long_side``.

    ``scales == 0`` picks :func:`auto_scales`, the first scale about :data:`MIN_AUTO_SIDE` px
    (:data:`PROGRESSIVE_MIN_SIDE` from the AdaIN ``start``). Each level is at most twice the
    previous one and never below 64 px, where VGG-19's deepest style layers have almost
    nothing left to see.
    """
    smallest = PROGRESSIVE_MIN_SIDE if start == "adain" else MIN_AUTO_SIDE
    n = auto_scales(long_side, smallest) if scales == 0 else scales
    if n <= 1:
        return [long_side]
    start = max(min(64, long_side), long_side / 2 ** (n - 1))
    if scales == 0:
        start = max(start, min(smallest, long_side))
    ratio = (long_side / start) ** (1 / (n - 1))
    sides = [round(start * ratio**i) for i in range(n)]
    sides[-1] = long_side
    return sides


def split_steps(sides: list[int], total: int) -> list[int]:
    """Share ``total`` steps between scales, more where they are cheap.

    Steps go in proportion to 1/side (inverse square root of the pixel count): coarse scales
    settle the layout in many cheap steps, fine scales refine it in few costly ones.
    """
    return _share(total, [1.0 / s for s in sides])


def progressive_steps(n_scales: int, total: int | None = None) -> list[int]:
    """Steps per scale, coarse to fine, of a run from the AdaIN start: the shares of
    :data:`PROGRESSIVE_STEPS` (coarsest, each middle, finest), scaled to ``total`` when it is
    given. One scale takes the coarsest and the finest shares together."""
    coarse, middle, fine = PROGRESSIVE_STEPS
    shares = [coarse + fine] if n_scales == 1 else [coarse, *[middle] * (n_scales - 2), fine]
    return shares if total is None else _share(total, shares)


def _share(total: int, weights: list[float] | list[int]) -> list[int]:
    """``total`` whole steps in proportion to ``weights``, summing to ``total``."""
    if total <= 0:
        return [0] * len(weights)
    norm = sum(weights)
    raw = [total * w / norm for w in weights]
    steps = [math.floor(r) for r in raw]
    # Hand out the remainder by largest fractional part, finest scale first on ties.
    order = sorted(range(len(weights)), key=lambda i: (raw[i] - steps[i], i), reverse=True)
    for i in order[: total - sum(steps)]:
        steps[i] += 1
    return steps


def schedule(sides: list[int], total: int | None, start: str) -> list[int]:
    """Steps per scale for a run of ``total`` steps (None: the default) from ``start``: the
    progressive shares from the AdaIN start, :func:`split_steps` otherwise."""
    if start == "adain":
        return progressive_steps(len(sides), total)
    return split_steps(sides, CLASSIC_STEPS if total is None else total)
