"""Options of the three trainers: per-style networks (:class:`TrainConfig`), decoders for
AdaIN / WCT (:class:`DecoderConfig`) and distilled encoders (:class:`EncoderConfig`), on one
base (:class:`RunOptions`) that holds what every training run shares."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from impasto.config.checks import (
    check_choices,
    check_ints,
    check_layers,
    check_positive,
    check_seed,
    finite,
    flag,
)
from impasto.config.checks import opt as _opt
from impasto.config.optimize import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS, Precision
from impasto.errors import InvalidOption

Arch = Literal["fast", "fast-tiny", "johnson"]
LossForm = Literal["squared", "distance"]
DecoderLayer = Literal["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]

#: Integer options every trainer has, and their ranges.
_RUN_INTS = (("steps", 1, 10_000_000), ("size", 32, 4096), ("batch", 1, 1024),
             ("checkpoint_every", 1, 10_000_000), ("preview_every", 0, 10_000_000),
             ("holdout", 0, 1000))


@dataclass(frozen=True)
class RunOptions:
    """What every training run has: where it starts, its seed, its arithmetic, how often it
    checkpoints and previews, and how many pictures it holds out. Subclasses add the steps,
    crop size, batch and learning rate with their own defaults, and their own options."""

    init: str | None = field(default=None, metadata=_opt(
        "Start from this trained model's weights (a model folder or a shipped model's name, of "
        "the same architecture and options) instead of a random initialisation: fine-tuning."))
    seed: int = field(default=0, metadata=_opt("Seed of the initialisation, data order and "
                                               "crops."))
    precision: Precision = field(
        default="auto", metadata=_opt("auto = bf16 where the device does it well, else fp32."))
    checkpoint_every: int = field(default=250, metadata=_opt("Steps between checkpoints."))
    preview_every: int = field(default=500, metadata=_opt("Steps between preview pictures of "
                                                          "held-out pictures (0 = none)."))
    holdout: int = field(default=4, metadata=_opt("Pictures of --data kept out of training "
                                                  "for previews."))

    def replace(self, **changes: Any) -> Any:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}

    def check_run(self, weights: tuple[str, ...] = ()) -> None:
        """The shared checks: integer ranges, precision, weights >= 0, a positive learning
        rate, the seed."""
        check_ints(self, _RUN_INTS)
        check_choices(self, (("precision", Precision),))
        for name in weights:
            finite(flag(name), getattr(self, name))
        check_positive("learning-rate", getattr(self, "learning_rate", 1.0))
        check_seed(self.seed)


@dataclass(frozen=True)
class TrainConfig(RunOptions):
    """Options of training a per-style feed-forward network (Johnson et al. 2016)."""

    arch: Arch = field(default="fast", metadata=_opt("Network architecture (impasto models)."))
    width: int = field(default=0, metadata=_opt(
        "Channels of the network's first layer; its residual blocks have four times as many "
        "(0: the architecture's own, 16 for fast and fast-tiny, 32 for johnson)."))
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
    # The optimiser's layers (Johnson et al. use relu2_2 for content and no relu5_x for
    # style): measured, they give lower style distance at the same training time
    # (docs/benchmarks.md, real-time networks).
    content_layers: tuple[str, ...] = field(
        default=DEFAULT_CONTENT_LAYERS,
        metadata=_opt("VGG-19 layers for content.", cli_type="names"))
    style_layers: tuple[str, ...] = field(
        default=DEFAULT_STYLE_LAYERS,
        metadata=_opt("VGG-19 layers for style.", cli_type="names"))

    def __post_init__(self) -> None:
        self.check_run(("style_weight", "tv_weight"))
        check_ints(self, (("style_size", 32, 4096), ("width", 0, 256)))
        check_choices(self, (("arch", Arch), ("loss_form", LossForm)))
        check_layers(self)

    @property
    def arch_params(self) -> dict[str, int]:
        """The architecture's options this run sets (``width``; 0 = its own)."""
        return {"width": self.width} if self.width else {}


@dataclass(frozen=True)
class DecoderConfig(RunOptions):
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
    encoder: str = field(default="vgg19", metadata=_opt(
        "Encoder whose features the decoder learns to decode: vgg19, or a distilled encoder "
        "(impasto train-encoder; a model folder or a shipped model's name)."))
    teacher: str | None = field(default=None, metadata=_opt(
        "A decoder to distil (with --styles, at relu4_1): the loss is the distance to the "
        "picture VGG-19 and this decoder make of the same content and style."))

    def __post_init__(self) -> None:
        self.check_run(("style_weight", "pixel_weight", "feature_weight"))
        check_ints(self, (("width", 4, 256),))
        check_choices(self, (("layer", DecoderLayer),))
        if not isinstance(self.encoder, str) or not self.encoder:
            raise InvalidOption("encoder must be vgg19 or a distilled encoder's folder or name")
        if self.teacher is not None and self.layer != "relu4_1":
            raise InvalidOption("--teacher distils AdaIN decoders, which start from relu4_1")
        if self.encoder != "vgg19" and self.layer != "relu4_1":
            raise InvalidOption("distilled encoders stop at relu4_1; train their decoders with "
                                "--layer relu4_1")


@dataclass(frozen=True)
class EncoderConfig(RunOptions):
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

    def __post_init__(self) -> None:
        check_ints(self, (("width", 4, 64),))
        self.check_run(("stats_weight",))
