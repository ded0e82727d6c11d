"""Options of optimisation-based style transfer (Gatys et al. 2016): ``method="optimize"``.

The CLI options are generated from :class:`TransferConfig`'s fields and their metadata, so
defaults, choices and help texts are stated here once.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_type_hints

from impasto.config.checks import (
    check_blend,
    check_layers,
    check_positive,
    check_seed,
    check_size,
    check_strength,
    finite,
    flag,
)
from impasto.config.checks import opt as _opt
from impasto.errors import InvalidOption
from impasto.runtime.memory import parse_memory

Optimizer = Literal["lbfgs", "adam"]
PreserveColor = Literal["none", "luminance", "histogram"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Pooling = Literal["max", "avg"]
StyleLoss = Literal["gram", "meancov", "histogram"]
Wrap = Literal["none", "both", "x"]

DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
DEFAULT_CONTENT_LAYERS = ("relu4_2",)

#: style_weight / content_weight at strength 0.5 (calibrated on the benchmark pairs).
BASE_STYLE_RATIO = 5.0
#: How fast the ratio moves with strength: ratio = BASE * (s / (1 - s)) ** STRENGTH_GAIN.
STRENGTH_GAIN = 2.0


@dataclass(frozen=True)
class TransferConfig:
    """Options of optimisation-based style transfer (Gatys et al. 2016)."""

    size: int = field(default=512, metadata=_opt("Long side of the output in pixels."))
    iterations: int | None = field(
        default=None,
        metadata=_opt("Optimisation steps in total, over all scales (default: the progressive "
                      "schedule from an AdaIN start, 119 steps at 512 px; 300 from the photo "
                      "or noise)."),
    )
    scales: int = field(
        default=0,
        metadata=_opt("Scales of the coarse-to-fine pyramid; 1 = single scale, 0 = automatic."),
    )
    optimizer: Optimizer = field(default="lbfgs", metadata=_opt("Optimiser."))
    strength: float = field(
        default=0.5,
        metadata=_opt("Style strength in [0, 1]; sets the content/style balance at any size."),
    )
    content_weight: float | None = field(
        default=None, metadata=_opt("Content weight (overrides --strength with --style-weight).")
    )
    style_weight: float | None = field(
        default=None, metadata=_opt("Style weight (overrides --strength with --content-weight).")
    )
    style_blend: tuple[float, ...] | None = field(
        default=None,
        metadata=_opt("Blend weights of the style images, comma-separated, one per style.",
                      cli_type="floats"),
    )
    style_scale: float | None = field(
        default=None,
        metadata=_opt("Size of the style image relative to the output (stroke scale); "
                      "default: a built-in style's own scale, else 1."),
    )
    tv_weight: float = field(
        default=0.0, metadata=_opt("Total-variation weight (smoothness), relative to content.")
    )
    preserve_color: PreserveColor = field(
        default="none", metadata=_opt("Keep the content's colours.")
    )
    init: str = field(
        default="auto",
        metadata=_opt("Start image: auto (adain with a content picture, noise for a texture), "
                      "adain (the content's AdaIN picture: a progressive start, less than half "
                      "the work of the photo start), content (the photo, 300 steps), noise, or "
                      "an image path."),
    )
    seed: int | None = field(
        default=None, metadata=_opt("Random seed (chosen and recorded when not given).")
    )
    learning_rate: float = field(
        default=0.02, metadata=_opt("Adam step size in pixel units (Adam only).")
    )
    content_layers: tuple[str, ...] = field(
        default=DEFAULT_CONTENT_LAYERS,
        metadata=_opt("VGG-19 layers for content, comma-separated.", cli_type="names"),
    )
    style_layers: tuple[str, ...] = field(
        default=DEFAULT_STYLE_LAYERS,
        metadata=_opt("VGG-19 layers for style, comma-separated.", cli_type="names"),
    )
    style_layer_weights: tuple[float, ...] | None = field(
        default=None,
        metadata=_opt("Weights of the style layers, comma-separated.", cli_type="floats"),
    )
    pooling: Pooling = field(default="max", metadata=_opt("VGG-19 pooling."))
    precision: Precision = field(
        default="auto",
        metadata=_opt("Arithmetic of the network: auto = bf16 autocast where the hardware has it."),
    )
    preview_every: int = field(
        default=0, metadata=_opt("Emit a preview image every N steps (0 = never).")
    )
    style_loss: StyleLoss = field(
        default="gram",
        metadata=_opt("Style statistics: gram (Gatys), meancov (Wasserstein-2 of Gaussian "
                      "fits), histogram (Risser et al.)."),
    )
    detail: float = field(
        default=0.0,
        metadata=_opt("Weight of the Laplacian detail term that keeps fine content detail "
                      "(Li et al. 2017), relative to content."),
    )
    carry_detail: float = field(
        default=1.0,
        metadata=_opt("Share of the photo's finer detail added to the picture each time it "
                      "moves up to a finer scale (0: none, 1: all of it)."),
    )
    carry_curvature: int = field(
        default=5,
        metadata=_opt("Pairs of L-BFGS's memory carried up to each finer scale, so that "
                      "its first step there is a full one (0: each scale starts afresh)."),
    )
    multiscale: int = field(
        default=3,
        metadata=_opt("Coarser copies of the picture (each half the last's size, none under "
                      "64 px) that L-BFGS moves with the pixels at a still's finest scale, so "
                      "that broad changes take longer steps (0: the pixels alone)."),
    )
    coarse_style: int | None = field(
        default=None,
        metadata=_opt("Style image (1-based) for the coarse layers relu3_1 ... relu5_1."),
    )
    fine_style: int | None = field(
        default=None,
        metadata=_opt("Style image (1-based) for the fine layers relu1_1 ... relu2_x."),
    )
    max_memory: str = field(
        default="auto",
        metadata=_opt("Memory budget, e.g. 8GB; large outputs are optimised in tiles to stay "
                      "within it. auto = 60% of the free memory."),
    )
    wrap: Wrap = field(
        default="none",
        metadata=_opt("Seamless output: both = tileable in both axes, x = horizontally only "
                      "(360-degree panoramas). Sizes become multiples of 16."),
    )

    def __post_init__(self) -> None:
        validate(self)

    def replace(self, **changes: Any) -> TransferConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def start(self, has_content: bool) -> str:
        """The start image ``init`` means: ``auto`` is ``adain`` with a content picture and
        ``noise`` without (a texture), and the photo itself where there is no style to paint
        (style weight 0: strength 0 keeps the photo); ``content`` without one is ``noise``."""
        if not has_content and self.init in ("auto", "content"):
            return "noise"
        if self.init == "auto":
            return "adain" if self.weights()[1] > 0 else "content"
        return self.init

    def weights(self) -> tuple[float, float]:
        """(content_weight, style_weight): each explicit weight wins, else ``strength`` sets it."""
        content, style = strength_to_weights(self.strength)
        return (
            content if self.content_weight is None else self.content_weight,
            style if self.style_weight is None else self.style_weight,
        )


def _ratio(strength: float) -> float:
    if strength >= 1.0:
        return math.inf
    return BASE_STYLE_RATIO * (strength / (1.0 - strength)) ** STRENGTH_GAIN


def strength_to_weights(strength: float) -> tuple[float, float]:
    """Map strength in [0, 1] to (content_weight, style_weight) summing to 1.

    0 keeps the content unchanged, 1 is style alone (texture synthesis from the content's start),
    0.5 is the calibrated default; in between the style/content ratio moves on a log scale.
    """
    if strength <= 0.0:
        return 1.0, 0.0
    if strength >= 1.0:
        return 0.0, 1.0
    r = _ratio(strength)
    return 1.0 / (1.0 + r), r / (1.0 + r)


@functools.cache
def _choices(name: str) -> tuple[str, ...]:
    """The allowed values of a ``Literal`` field, read from its annotation."""
    return get_args(get_type_hints(TransferConfig)[name])


def validate(cfg: TransferConfig) -> None:
    """Check every option; raise one :class:`InvalidOption` naming the first bad one."""
    check_size(cfg.size)
    if cfg.iterations is not None and (isinstance(cfg.iterations, bool)
                                       or not isinstance(cfg.iterations, int)
                                       or cfg.iterations < 0):
        raise InvalidOption(f"iterations must be a non-negative integer, not {cfg.iterations!r}")
    if not isinstance(cfg.scales, int) or not 0 <= cfg.scales <= 12:
        raise InvalidOption(f"scales must be 0 (automatic) or 1 to 12, not {cfg.scales!r}")
    for name in ("optimizer", "preserve_color", "precision", "pooling", "style_loss", "wrap"):
        allowed = _choices(name)
        if getattr(cfg, name) not in allowed:
            raise InvalidOption(
                f"{flag(name)} must be one of {', '.join(allowed)}, not {getattr(cfg, name)!r}"
            )
    check_strength(cfg.strength)
    for name in ("content_weight", "style_weight"):
        value = getattr(cfg, name)
        if value is not None:
            finite(flag(name), value)
    if cfg.style_scale is not None:
        finite("style-scale", cfg.style_scale, low=0.05, high=8.0)
    finite("tv-weight", cfg.tv_weight)
    check_positive("learning-rate", cfg.learning_rate)
    check_blend(cfg.style_blend)
    check_layers(cfg)
    if cfg.style_layer_weights is not None:
        if len(cfg.style_layer_weights) != len(cfg.style_layers):
            raise InvalidOption(
                f"style-layer-weights has {len(cfg.style_layer_weights)} values for "
                f"{len(cfg.style_layers)} style layers"
            )
        for w in cfg.style_layer_weights:
            finite("style-layer weight", w)
    if cfg.seed is not None:
        check_seed(cfg.seed)
    if not isinstance(cfg.preview_every, int) or cfg.preview_every < 0:
        raise InvalidOption(f"preview-every must be >= 0, not {cfg.preview_every!r}")
    finite("detail", cfg.detail)
    finite("carry_detail", cfg.carry_detail)
    if not isinstance(cfg.carry_curvature, int) or not 0 <= cfg.carry_curvature <= 50:
        raise InvalidOption("carry-curvature must be a whole number of pairs from 0 to 50, "
                            f"not {cfg.carry_curvature!r}")
    if not isinstance(cfg.multiscale, int) or not 0 <= cfg.multiscale <= 6:
        raise InvalidOption("multiscale must be a whole number of coarser copies from 0 to 6, "
                            f"not {cfg.multiscale!r}")
    if not isinstance(cfg.max_memory, str):
        raise InvalidOption(f"max-memory must be a size like 8GB or auto, not {cfg.max_memory!r}")
    parse_memory(cfg.max_memory)
    for name in ("coarse_style", "fine_style"):
        value = getattr(cfg, name)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise InvalidOption(f"{flag(name)} must be a style number from 1, not {value!r}")
    if (cfg.coarse_style is None) != (cfg.fine_style is None):
        raise InvalidOption("--coarse-style and --fine-style go together")
    if not isinstance(cfg.init, str) or not cfg.init:
        raise InvalidOption("init must be 'auto', 'adain', 'content', 'noise' or an image path")
