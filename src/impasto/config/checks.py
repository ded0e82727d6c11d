"""The rules every options object checks with, each stated once.

An option is validated where its options object is built; front ends (CLI, service, batch)
map their inputs onto those objects and check nothing themselves.
"""

from __future__ import annotations

import math
from typing import Any, get_args

from impasto.errors import InvalidOption
from impasto.features.layers import LAYER_NAMES

#: Smallest and largest long side of a picture an options object accepts, in pixels.
MIN_SIZE, MAX_SIZE = 16, 65536


def opt(help_text: str, **extra: Any) -> dict[str, Any]:
    """A dataclass field's metadata: its help text (the CLI's, the service's) and extras."""
    return {"help": help_text, **extra}


def flag(name: str) -> str:
    return name.replace("_", "-")


def finite(name: str, value: Any, *, low: float | None = 0.0,
           high: float | None = None) -> None:
    """``value`` is a finite number (not a bool) within [low, high]."""
    if (not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value)
            or math.isinf(value)):
        raise InvalidOption(f"{name} must be a finite number, not {value!r}")
    if low is not None and value < low:
        raise InvalidOption(f"{name} must be >= {low}, not {value}")
    if high is not None and value > high:
        raise InvalidOption(f"{name} must be <= {high}, not {value}")


def integer(name: str, value: Any, low: int, high: int) -> None:
    """``value`` is an int (not a bool) within [low, high]."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidOption(f"{name} must be an integer from {low} to {high}, not {value!r}")


def check_ints(cfg: Any, ranges: tuple[tuple[str, int, int], ...]) -> None:
    for name, low, high in ranges:
        integer(flag(name), getattr(cfg, name), low, high)


def check_choices(cfg: Any, choices: tuple[tuple[str, Any], ...]) -> None:
    """Each named option of ``cfg`` is one of its ``Literal`` type's values."""
    for name, literal in choices:
        value, allowed = getattr(cfg, name), get_args(literal)
        if value not in allowed:
            raise InvalidOption(f"{flag(name)} must be one of {', '.join(allowed)}, "
                                f"not {value!r}")


def check_positive(name: str, value: Any) -> None:
    """A finite number above 0 (learning rates)."""
    finite(name, value)
    if value <= 0:
        raise InvalidOption(f"{name} must be > 0, not {value}")


def check_seed(seed: Any) -> None:
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
        raise InvalidOption(f"seed must be an integer from 0 to 2**63-1, not {seed!r}")


def check_size(size: Any, *, optional: bool = False) -> None:
    """The long side of an output: an integer from :data:`MIN_SIZE` to :data:`MAX_SIZE`
    (``None`` too where ``optional``: the input's own size)."""
    if size is None and optional:
        return
    integer("size", size, MIN_SIZE, MAX_SIZE)


def check_strength(strength: Any) -> None:
    finite("strength", strength, low=0.0, high=1.0)


def check_blend(blend: tuple[float, ...] | None, n_styles: int | None = None) -> None:
    """Blend weights of the style pictures: finite, >= 0, not all 0, one per style (when the
    number of styles is known)."""
    if blend is None:
        return
    if not blend:
        raise InvalidOption("style-blend needs at least one weight")
    for w in blend:
        finite("style-blend weight", w)
    if sum(blend) <= 0:
        raise InvalidOption("style-blend weights must not all be 0")
    if n_styles is not None and len(blend) != n_styles:
        raise InvalidOption(f"style-blend has {len(blend)} weights for {n_styles} style "
                            "pictures")


def check_style_number(number: Any, n_styles: int, what: str = "a mask") -> None:
    """A style named by its number from 1 (masks, --coarse-style ...) exists."""
    if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= n_styles:
        raise InvalidOption(f"{what} names style {number!r}; there "
                            f"{'is' if n_styles == 1 else 'are'} {n_styles} style "
                            f"picture{'' if n_styles == 1 else 's'}")


def check_layers(cfg: Any) -> None:
    """Content and style layers name at least one VGG-19 layer each, all real."""
    for kind in ("content_layers", "style_layers"):
        layers = getattr(cfg, kind)
        if not layers:
            raise InvalidOption(f"{flag(kind)} must name at least one layer")
        for layer in layers:
            if layer not in LAYER_NAMES:
                raise InvalidOption(
                    f"unknown VGG-19 layer {layer!r} in {flag(kind)}; layers are "
                    "conv1_1 ... conv5_4, relu1_1 ... relu5_4 and pool1 ... pool5"
                )
