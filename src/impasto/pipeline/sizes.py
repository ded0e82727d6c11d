"""Whether a request's pictures can make a picture at all: each side at least
:data:`~impasto.image.resize.MIN_SIDE` px at the size each method works at, checked once for
every method before any work (a 4 x 3000 px photo at ``size=64`` would be a 1 x 64 strip)."""

from __future__ import annotations

from typing import Any

from impasto.config.checks import MAX_SIZE
from impasto.errors import InvalidImage
from impasto.image.resize import MIN_SIDE, fit_long_side, smallest_long_side
from impasto.optim.pyramid import MIN_STYLE_SIDE
from impasto.pipeline.inputs import Picture
from impasto.pipeline.request import Request

#: Long side the style pictures of AdaIN / WCT are read at (Huang and Belongie 2017 train at
#: 512).
STYLE_SIZE = 512


def style_scale(cfg: Any, styles: list[Picture]) -> float:
    """The style scale a run uses: the one asked for, else the mean of the styles' own scales
    (a built-in style's recorded scale, 1 for any other picture)."""
    if cfg.style_scale is not None:
        return float(cfg.style_scale)
    own = [float((s.record.get("builtin") or {}).get("style_scale", 1.0)) for s in styles]
    return round(sum(own) / len(own), 3) if own else 1.0


def check_paintable(request: Request, content: Picture | None, styles: list[Picture]) -> None:
    """Raise :class:`~impasto.errors.InvalidImage` when the content or a style picture would
    be thinner than :data:`MIN_SIDE` px where the method paints it, naming the smallest size
    that works."""
    opts = request.options
    size: int | None = getattr(opts, "size", None)
    long_side = size  # the output's long side (None: the content's own)
    if content is not None:
        height, width = content.size
        _check_content(content, height, width, size, request.max_pixels)
        long_side = size or max(height, width)
    if request.method == "optimize":
        scale = style_scale(opts, styles)
        for number, style in enumerate(styles, start=1):
            _check_optimised_style(style, number, len(styles), long_side or opts.size, scale)
    elif request.method in ("adain", "wct"):
        for number, style in enumerate(styles, start=1):
            height, width = style.size
            working = min(STYLE_SIZE, max(height, width))
            if min(fit_long_side(height, width, working)) < MIN_SIDE:
                raise InvalidImage(_message(_label(style, number, len(styles)), height, width,
                                            working, None,
                                            f"use a picture at least {MIN_SIDE} px across and "
                                            f"no longer than {STYLE_SIZE // MIN_SIDE}:1"))


def _check_content(content: Picture, height: int, width: int, size: int | None,
                   max_pixels: int) -> None:
    side = size or max(height, width)
    if min(fit_long_side(height, width, side)) >= MIN_SIDE:
        return
    needed = smallest_long_side(height, width)
    h, w = fit_long_side(height, width, needed)
    if needed > MAX_SIZE or h * w > max_pixels:
        advice = "no size within the limits gives that: crop it closer to square"
    else:
        thin = max(height, width) > 2 * min(height, width)
        advice = f"use --size {needed} or more" + (", or crop it" if thin else "")
    raise InvalidImage(_message(f"the content picture {content.record.get('name', '')}",
                                height, width, side, size, advice))


def _check_optimised_style(style: Picture, number: int, count: int, long_side: int,
                           scale: float) -> None:
    """The optimiser reads a style at ``scale`` times the output's long side (at least
    :data:`MIN_STYLE_SIDE`)."""
    height, width = style.size

    def working(size: int) -> int:
        return max(MIN_STYLE_SIDE, round(scale * size))

    side = working(long_side)
    if min(fit_long_side(height, width, side)) >= MIN_SIDE:
        return
    needed = smallest_long_side(height, width)
    size = max(long_side, round(needed / scale))
    while working(size) < needed:
        size += 1
    while size > long_side and working(size - 1) >= needed:
        size -= 1
    advice = ("crop it closer to square" if size > MAX_SIZE
              else f"use --size {size} or more, or crop it closer to square")
    raise InvalidImage(_message(_label(style, number, count), height, width, side,
                                long_side, advice))


def _label(style: Picture, number: int, count: int) -> str:
    name = style.record.get("name", "")
    return f"the style picture {name}" if count == 1 else f"style picture {number} ({name})"


def _message(label: str, height: int, width: int, side: int, size: Any, advice: str) -> str:
    h, w = fit_long_side(height, width, side)
    at = f" at --size {size}" if size is not None else ""
    if (h, w) == (height, width):
        becomes = f"{label} is {width}x{height}{at}"
    else:
        becomes = f"{label} ({width}x{height}) becomes {w}x{h}{at}"
    return (f"{becomes}; a side must be at least {MIN_SIDE} px after resizing (the network's "
            f"pooling halves it four times): {advice}")
