"""impasto: neural style transfer.

The way in is :func:`render` (or a :class:`Pipeline`, which keeps networks loaded): a
:class:`Request` names the content, the style(s), the method (``optimize``, ``network``,
``adain``, ``wct``) and its options (:class:`TransferConfig`, :class:`NetworkOptions`,
:class:`ArbitraryOptions`); a :class:`Result` comes back. :func:`stylize`, :class:`Stylizer`,
:class:`NetworkStylizer` and :class:`ArbitraryPictures` are conveniences over it;
:func:`score` measures a picture; :func:`train` and :func:`train_decoder` train networks.
Nothing here loads weights or probes devices at import time.
"""

from impasto._version import __version__
from impasto.api import ArbitraryPictures, NetworkStylizer, Stylizer, score, stylize
from impasto.config import (
    ArbitraryOptions,
    DecoderConfig,
    NetworkOptions,
    OptimizeOptions,
    TrainConfig,
    TransferConfig,
)
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
from impasto.models import load_model
from impasto.pipeline import Pipeline, Request, render
from impasto.result import Result
from impasto.runtime import Runtime, choose_runtime
from impasto.training.decoder import train_decoder
from impasto.training.trainer import train

__all__ = [
    "ArbitraryOptions",
    "ArbitraryPictures",
    "CancelToken",
    "Cancelled",
    "DecoderConfig",
    "Diverged",
    "ImpastoError",
    "InvalidImage",
    "InvalidOption",
    "NetworkOptions",
    "NetworkStylizer",
    "OptimizeOptions",
    "OutputError",
    "Pipeline",
    "Progress",
    "Request",
    "Result",
    "Runtime",
    "Stylizer",
    "TrainConfig",
    "TransferConfig",
    "WeightsError",
    "__version__",
    "choose_runtime",
    "load_model",
    "render",
    "score",
    "stylize",
    "train",
    "train_decoder",
]
