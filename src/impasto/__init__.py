"""impasto: neural style transfer.

The public API is :func:`stylize`, :class:`Stylizer`, :func:`score` and :class:`TransferConfig`
(optimisation), :class:`NetworkStylizer`, :func:`load_model`, :func:`train` and
:class:`TrainConfig` (feed-forward networks), :class:`ArbitraryPictures`,
:func:`train_decoder` and :class:`DecoderConfig` (any style in one pass: AdaIN, WCT);
nothing here loads weights or probes devices at import time.
"""

from impasto._version import __version__
from impasto.api import Stylizer, StylizeResult, score, stylize
from impasto.arbitrary.pictures import ArbitraryPictures
from impasto.config import DecoderConfig, TrainConfig, TransferConfig
from impasto.errors import (
    Cancelled,
    Diverged,
    ImpastoError,
    InvalidImage,
    InvalidOption,
    OutputError,
    WeightsError,
)
from impasto.events import CancelToken, Progress
from impasto.feedforward import NetworkResult, NetworkStylizer
from impasto.models import load_model
from impasto.training.decoder import train_decoder
from impasto.training.trainer import train

__all__ = [
    "ArbitraryPictures",
    "CancelToken",
    "Cancelled",
    "DecoderConfig",
    "Diverged",
    "ImpastoError",
    "InvalidImage",
    "InvalidOption",
    "NetworkResult",
    "NetworkStylizer",
    "OutputError",
    "Progress",
    "StylizeResult",
    "Stylizer",
    "TrainConfig",
    "TransferConfig",
    "WeightsError",
    "__version__",
    "load_model",
    "score",
    "stylize",
    "train",
    "train_decoder",
]
