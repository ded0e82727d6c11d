"""Options objects: frozen, typed dataclasses, the one source of defaults, one per method and
one per trainer. Each checks itself when built (the rules live in :mod:`impasto.config.checks`);
CLI options are generated from their fields."""

from impasto.config.optimize import (
    BASE_STYLE_RATIO,
    DEFAULT_CONTENT_LAYERS,
    DEFAULT_STYLE_LAYERS,
    TransferConfig,
    strength_to_weights,
)
from impasto.config.render import ArbitraryOptions, NetworkOptions
from impasto.config.training import DecoderConfig, EncoderConfig, RunOptions, TrainConfig

#: The optimiser's options under the name of its method (``method="optimize"``).
OptimizeOptions = TransferConfig

__all__ = [
    "BASE_STYLE_RATIO",
    "DEFAULT_CONTENT_LAYERS",
    "DEFAULT_STYLE_LAYERS",
    "ArbitraryOptions",
    "DecoderConfig",
    "EncoderConfig",
    "NetworkOptions",
    "OptimizeOptions",
    "RunOptions",
    "TrainConfig",
    "TransferConfig",
    "strength_to_weights",
]
