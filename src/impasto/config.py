"""Configuration: frozen, typed dataclasses, the one source of defaults.

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

from impasto.errors import InvalidOption
from impasto.features.vgg import LAYER_NAMES
from impasto.optim.memory import parse_memory

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


def _opt(help_text: str, **extra: Any) -> dict[str, Any]:
    return {"help": help_text, **extra}


@dataclass(frozen=True)
class TransferConfig:
    """Options of optimisation-based style transfer (Gatys et al. 2016)."""

    size: int = field(default=512, metadata=_opt("Long side of the output in pixels."))
    iterations: int = field(
        default=300, metadata=_opt("Optimisation steps in total, over all scales.")
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
    style_scale: float = field(
        default=1.0,
        metadata=_opt("Size of the style image relative to the output (stroke scale)."),
    )
    tv_weight: float = field(
        default=0.0, metadata=_opt("Total-variation weight (smoothness), relative to content.")
    )
    preserve_color: PreserveColor = field(
        default="none", metadata=_opt("Keep the content's colours.")
    )
    init: str = field(
        default="content", metadata=_opt("Start image: content, noise, or an image path.")
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


def _finite(name: str, value: float, *, low: float | None = 0.0, high: float | None = None) -> None:
    if not isinstance(value, int | float) or math.isnan(value) or math.isinf(value):
        raise InvalidOption(f"{name} must be a finite number, not {value!r}")
    if low is not None and value < low:
        raise InvalidOption(f"{name} must be >= {low}, not {value}")
    if high is not None and value > high:
        raise InvalidOption(f"{name} must be <= {high}, not {value}")


def _check_layers(cfg: TransferConfig | TrainConfig) -> None:
    """Content and style layers name at least one VGG-19 layer each, all real."""
    for kind in ("content_layers", "style_layers"):
        layers = getattr(cfg, kind)
        if not layers:
            raise InvalidOption(f"{kind.replace('_', '-')} must name at least one layer")
        for layer in layers:
            if layer not in LAYER_NAMES:
                raise InvalidOption(
                    f"unknown VGG-19 layer {layer!r} in {kind.replace('_', '-')}; layers are "
                    "conv1_1 ... conv5_4, relu1_1 ... relu5_4 and pool1 ... pool5"
                )


def validate(cfg: TransferConfig) -> None:
    """Check every option; raise one :class:`InvalidOption` naming the first bad one."""
    if not isinstance(cfg.size, int) or cfg.size < 16 or cfg.size > 65536:
        raise InvalidOption(f"size must be an integer from 16 to 65536 pixels, not {cfg.size!r}")
    if not isinstance(cfg.iterations, int) or cfg.iterations < 0:
        raise InvalidOption(f"iterations must be a non-negative integer, not {cfg.iterations!r}")
    if not isinstance(cfg.scales, int) or not 0 <= cfg.scales <= 12:
        raise InvalidOption(f"scales must be 0 (automatic) or 1 to 12, not {cfg.scales!r}")
    for name in ("optimizer", "preserve_color", "precision", "pooling", "style_loss", "wrap"):
        allowed = _choices(name)
        if getattr(cfg, name) not in allowed:
            raise InvalidOption(
                f"{name.replace('_', '-')} must be one of {', '.join(allowed)}, "
                f"not {getattr(cfg, name)!r}"
            )
    _finite("strength", cfg.strength, low=0.0, high=1.0)
    for name in ("content_weight", "style_weight"):
        value = getattr(cfg, name)
        if value is not None:
            _finite(name.replace("_", "-"), value)
    _finite("style-scale", cfg.style_scale, low=0.05, high=8.0)
    _finite("tv-weight", cfg.tv_weight)
    _finite("learning-rate", cfg.learning_rate)
    if cfg.learning_rate <= 0:
        raise InvalidOption("learning-rate must be > 0")
    if cfg.style_blend is not None:
        if not cfg.style_blend:
            raise InvalidOption("style-blend needs at least one weight")
        for w in cfg.style_blend:
            _finite("style-blend weight", w)
        if sum(cfg.style_blend) <= 0:
            raise InvalidOption("style-blend weights must not all be 0")
    _check_layers(cfg)
    if cfg.style_layer_weights is not None:
        if len(cfg.style_layer_weights) != len(cfg.style_layers):
            raise InvalidOption(
                f"style-layer-weights has {len(cfg.style_layer_weights)} values for "
                f"{len(cfg.style_layers)} style layers"
            )
        for w in cfg.style_layer_weights:
            _finite("style-layer weight", w)
    if cfg.seed is not None:
        _check_seed(cfg.seed)
    if not isinstance(cfg.preview_every, int) or cfg.preview_every < 0:
        raise InvalidOption(f"preview-every must be >= 0, not {cfg.preview_every!r}")
    _finite("detail", cfg.detail)
    if not isinstance(cfg.max_memory, str):
        raise InvalidOption(f"max-memory must be a size like 8GB or auto, not {cfg.max_memory!r}")
    parse_memory(cfg.max_memory)
    for name in ("coarse_style", "fine_style"):
        value = getattr(cfg, name)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise InvalidOption(f"{name.replace('_', '-')} must be a style number from 1, "
                                f"not {value!r}")
    if (cfg.coarse_style is None) != (cfg.fine_style is None):
        raise InvalidOption("--coarse-style and --fine-style go together")
    if not isinstance(cfg.init, str) or not cfg.init:
        raise InvalidOption("init must be 'content', 'noise' or an image path")


Arch = Literal["fast", "fast-tiny", "johnson"]
LossForm = Literal["squared", "distance"]
LrSchedule = Literal["constant", "cosine"]


@dataclass(frozen=True)
class TrainConfig:
    """Options of training a per-style feed-forward network (Johnson et al. 2016)."""

    arch: Arch = field(default="fast", metadata=_opt("Network architecture (impasto models)."))
    width: int = field(default=0, metadata=_opt(
        "Channels of the network's first layer; its residual blocks have four times as many "
        "(0: the architecture's own, 16 for fast and fast-tiny, 32 for johnson)."))
    blocks: int = field(default=0, metadata=_opt(
        "Residual blocks (0: the architecture's own, 4 for fast and fast-tiny, 5 for "
        "johnson)."))
    steps: int = field(default=4000, metadata=_opt("Training steps (batches)."))
    size: int = field(default=256, metadata=_opt("Side of the square training crops in pixels."))
    batch: int = field(default=4, metadata=_opt("Pictures per batch."))
    style_size: int = field(
        default=512, metadata=_opt("Long side the style picture is resized to; larger gives "
                                   "larger strokes. Match the size the network will paint at "
                                   "(the optimiser's --style-scale 1)."))
    style_weight: float = field(
        default=10.0, metadata=_opt("Style weight against a content weight of 1 (both losses "
                                    "are relative, as in the optimiser)."))
    tv_weight: float = field(default=0.0, metadata=_opt("Total-variation weight."))
    # Measured (docs/benchmarks.md, real-time networks): fine-tuning a network with "distance"
    # lowered the style distance `impasto score` reports by 7 % at a content distance 2.5 %
    # higher, where more steps of "squared" raised it. Squared, the layer furthest off
    # (relu5_1, which a small network cannot reach) takes most of the gradient; as distances
    # every layer pulls alike, so the layers the network can match get matched.
    loss_form: LossForm = field(default="squared", metadata=_opt(
        "squared: the squared relative distances, per layer (Johnson et al.; the layers "
        "furthest off dominate). distance: the relative distances themselves, what impasto "
        "score reports (every layer pulls alike; use a style weight of about 4)."))
    learning_rate: float = field(default=1e-3, metadata=_opt("Adam learning rate."))
    lr_schedule: LrSchedule = field(default="constant", metadata=_opt(
        "constant: the learning rate throughout. cosine: from the learning rate down to "
        "nothing at --steps, on a half cosine (the step count sets the pace: set --steps to "
        "the steps you will run)."))
    init: str | None = field(default=None, metadata=_opt(
        "Start from this trained model's weights (a model folder or a shipped model's name, of "
        "the same architecture and options) instead of a random initialisation: fine-tuning."))
    # The optimiser's layers (Johnson et al. use relu2_2 for content and no relu5_x for
    # style): measured, they give lower style distance at the same training time
    # (docs/benchmarks.md, real-time networks).
    content_layers: tuple[str, ...] = field(
        default=DEFAULT_CONTENT_LAYERS,
        metadata=_opt("VGG-19 layers for content.", cli_type="names"))
    style_layers: tuple[str, ...] = field(
        default=DEFAULT_STYLE_LAYERS,
        metadata=_opt("VGG-19 layers for style.", cli_type="names"))
    seed: int = field(default=0, metadata=_opt("Seed of the network's initialisation and of "
                                               "the data order and crops."))
    precision: Precision = field(
        default="auto", metadata=_opt("auto = bf16 where the device does it well, else fp32."))
    checkpoint_every: int = field(default=250, metadata=_opt("Steps between checkpoints."))
    preview_every: int = field(default=500, metadata=_opt("Steps between preview pictures of "
                                                          "held-out photos (0 = none)."))
    holdout: int = field(default=4, metadata=_opt("Photos of --data kept out of training for "
                                                  "previews."))

    def __post_init__(self) -> None:
        validate_train(self)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    @property
    def arch_params(self) -> dict[str, int]:
        """The architecture's options this run sets (``width``, ``blocks``; 0 = its own)."""
        return {k: v for k, v in (("width", self.width), ("blocks", self.blocks)) if v}

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}


#: Integer options shared by the trainers, and their ranges.
_TRAIN_INTS = (("steps", 1, 10_000_000), ("size", 32, 4096), ("batch", 1, 1024),
               ("checkpoint_every", 1, 10_000_000), ("preview_every", 0, 10_000_000),
               ("holdout", 0, 1000))


def _check_ints(cfg: Any, ranges: tuple[tuple[str, int, int], ...]) -> None:
    for name, low, high in ranges:
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise InvalidOption(f"{name.replace('_', '-')} must be an integer from {low} to "
                                f"{high}, not {value!r}")


def _check_choices(cfg: Any, choices: tuple[tuple[str, Any], ...]) -> None:
    """Each named option of ``cfg`` is one of its ``Literal`` type's values."""
    for name, literal in choices:
        value, allowed = getattr(cfg, name), get_args(literal)
        if value not in allowed:
            raise InvalidOption(f"{name.replace('_', '-')} must be one of "
                                f"{', '.join(allowed)}, not {value!r}")


def _check_seed(seed: Any) -> None:
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
        raise InvalidOption(f"seed must be an integer from 0 to 2**63-1, not {seed!r}")


def _check_run(cfg: Any, weights: tuple[str, ...]) -> None:
    """The options the decoder and encoder trainers share: precision, weights >= 0, a
    positive learning rate, the seed."""
    _check_choices(cfg, (("precision", Precision),))
    for name in (*weights, "learning_rate"):
        _finite(name.replace("_", "-"), getattr(cfg, name))
        if getattr(cfg, name) < 0:
            raise InvalidOption(f"{name.replace('_', '-')} must be >= 0")
    if cfg.learning_rate <= 0:
        raise InvalidOption("learning-rate must be > 0")
    _check_seed(cfg.seed)


def validate_train(cfg: TrainConfig) -> None:
    """Check every training option; raise one :class:`InvalidOption` naming the first bad one."""
    _check_ints(cfg, (*_TRAIN_INTS, ("style_size", 32, 4096), ("width", 0, 256),
                      ("blocks", 0, 32)))
    _check_choices(cfg, (("arch", Arch), ("loss_form", LossForm), ("lr_schedule", LrSchedule),
                         ("precision", Precision)))
    _finite("style-weight", cfg.style_weight)
    _finite("tv-weight", cfg.tv_weight)
    _finite("learning-rate", cfg.learning_rate)
    if cfg.learning_rate <= 0:
        raise InvalidOption("learning-rate must be > 0")
    _check_layers(cfg)
    _check_seed(cfg.seed)


DecoderLayer = Literal["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]


@dataclass(frozen=True)
class DecoderConfig:
    """Options of training a decoder for arbitrary-style transfer (AdaIN / WCT)."""

    layer: DecoderLayer = field(default="relu4_1", metadata=_opt(
        "VGG-19 layer the decoder starts from (AdaIN: relu4_1; WCT: each of relu1_1 ... "
        "relu5_1)."))
    width: int = field(default=32, metadata=_opt(
        "Decoder channels at full resolution, doubling per level (64 = the papers' decoder)."))
    steps: int = field(default=2000, metadata=_opt("Training steps (batches)."))
    size: int = field(default=256, metadata=_opt("Side of the square training crops in pixels."))
    batch: int = field(default=4, metadata=_opt("Pictures per batch."))
    style_weight: float = field(default=2.0, metadata=_opt(
        "With --styles (AdaIN): weight of the mean/deviation style loss against the content "
        "loss (both relative)."))
    pixel_weight: float = field(default=1.0, metadata=_opt(
        "Without --styles (WCT): weight of the pixel reconstruction loss (relative)."))
    feature_weight: float = field(default=1.0, metadata=_opt(
        "Without --styles (WCT): weight of the feature reconstruction loss at relu1_1 ... "
        "the decoder's layer (relative)."))
    learning_rate: float = field(default=5e-4, metadata=_opt("Adam learning rate."))
    init: str | None = field(default=None, metadata=_opt(
        "Start from this trained model's weights (a model folder or a shipped model's name, of "
        "the same architecture and options) instead of a random initialisation: fine-tuning."))
    encoder: str = field(default="vgg19", metadata=_opt(
        "Encoder whose features the decoder learns to decode: vgg19, or a distilled encoder "
        "(impasto train-encoder; a model folder or a shipped model's name)."))
    teacher: str | None = field(default=None, metadata=_opt(
        "A decoder to distil (with --styles, at relu4_1): the loss is the distance to the "
        "picture VGG-19 and this decoder make of the same content and style."))
    seed: int = field(default=0, metadata=_opt("Seed of the initialisation, data order and "
                                               "crops."))
    precision: Precision = field(
        default="auto", metadata=_opt("auto = bf16 where the device does it well, else fp32."))
    checkpoint_every: int = field(default=250, metadata=_opt("Steps between checkpoints."))
    preview_every: int = field(default=500, metadata=_opt("Steps between preview pictures of "
                                                          "held-out photos (0 = none)."))
    holdout: int = field(default=4, metadata=_opt("Photos of --data kept out of training for "
                                                  "previews."))

    def __post_init__(self) -> None:
        _check_ints(self, (*_TRAIN_INTS, ("width", 4, 256)))
        _check_choices(self, (("layer", DecoderLayer),))
        _check_run(self, ("style_weight", "pixel_weight", "feature_weight"))
        if not isinstance(self.encoder, str) or not self.encoder:
            raise InvalidOption("encoder must be vgg19 or a distilled encoder's folder or name")
        if self.teacher is not None and self.layer != "relu4_1":
            raise InvalidOption("--teacher distils AdaIN decoders, which start from relu4_1")
        if self.encoder != "vgg19" and self.layer != "relu4_1":
            raise InvalidOption("distilled encoders stop at relu4_1; train their decoders with "
                                "--layer relu4_1")

    def replace(self, **changes: Any) -> DecoderConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class EncoderConfig:
    """Options of distilling VGG-19 (up to relu4_1) into a thin encoder (Wang et al. 2020)."""

    width: int = field(default=16, metadata=_opt(
        "Channels of the first block, doubling per block (64 = VGG-19's own)."))
    steps: int = field(default=2000, metadata=_opt("Training steps (batches)."))
    size: int = field(default=256, metadata=_opt("Side of the square training crops in pixels."))
    batch: int = field(default=8, metadata=_opt("Pictures per batch."))
    stats_weight: float = field(default=1.0, metadata=_opt(
        "Weight of the loss on the features' channel means and deviations (what AdaIN uses) "
        "against the loss on the features themselves (both relative)."))
    learning_rate: float = field(default=1e-3, metadata=_opt("Adam learning rate."))
    init: str | None = field(default=None, metadata=_opt(
        "Start from this trained model's weights (a model folder or a shipped model's name, of "
        "the same architecture and options) instead of a random initialisation: fine-tuning."))
    seed: int = field(default=0, metadata=_opt("Seed of the initialisation, data order and "
                                               "crops."))
    precision: Precision = field(
        default="auto", metadata=_opt("auto = bf16 for the teacher (VGG-19) where the device "
                                      "does it well, else fp32; the student trains in fp32."))
    checkpoint_every: int = field(default=250, metadata=_opt("Steps between checkpoints."))
    preview_every: int = field(default=500, metadata=_opt(
        "Steps between preview pictures: held-out pictures decoded from the student's "
        "features by the shipped AdaIN decoder (0 = none)."))
    holdout: int = field(default=4, metadata=_opt("Pictures of --data kept out of training "
                                                  "for previews."))

    def __post_init__(self) -> None:
        _check_ints(self, (*_TRAIN_INTS, ("width", 4, 64)))
        _check_run(self, ("stats_weight",))

    def replace(self, **changes: Any) -> EncoderConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
