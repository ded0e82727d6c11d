"""impasto: neural style transfer.

The way in is :func:`render` (or a :class:`Pipeline`, which keeps networks loaded): a
:class:`Request` names the content, the style(s), the method (``optimize``, ``network``,
``adain``, ``wct``) and its options (:class:`TransferConfig`, :class:`NetworkOptions`,
:class:`ArbitraryOptions`); a :class:`Result` comes back. :func:`stylize`, :class:`Stylizer`,
:class:`NetworkStylizer` and :class:`ArbitraryPictures` are conveniences over it;
:func:`score` measures a picture; :func:`train` and :func:`train_decoder` train networks.
Nothing here loads weights or probes devices at import time, and PyTorch is imported only
by what needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from impasto._lazy import lazy_names
from impasto._version import __version__

#: Where each name of the package's API lives. The modules are imported when a name is first
#: used, so ``import impasto`` (and the command line, which imports what each command needs)
#: does not load PyTorch: a trained network run in onnxruntime never needs it.
_EXPORTS = {
    "ArbitraryPictures": "impasto.api", "NetworkStylizer": "impasto.api",
    "Stylizer": "impasto.api", "score": "impasto.api", "stylize": "impasto.api",
    "ArbitraryOptions": "impasto.config", "DecoderConfig": "impasto.config",
    "NetworkOptions": "impasto.config", "OptimizeOptions": "impasto.config",
    "TrainConfig": "impasto.config", "TransferConfig": "impasto.config",
    "Cancelled": "impasto.errors", "Diverged": "impasto.errors",
    "ImpastoError": "impasto.errors", "InvalidImage": "impasto.errors",
    "InvalidOption": "impasto.errors", "OutputError": "impasto.errors",
    "WeightsError": "impasto.errors",
    "CancelToken": "impasto.events", "Progress": "impasto.events",
    "load_model": "impasto.models",
    "Pipeline": "impasto.pipeline", "Request": "impasto.pipeline", "render": "impasto.pipeline",
    "Result": "impasto.result",
    "Runtime": "impasto.runtime", "choose_runtime": "impasto.runtime",
    "train_decoder": "impasto.training.decoder",
    "train": "impasto.training.trainer",
}

if TYPE_CHECKING:
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

__getattr__, __dir__ = lazy_names(__name__, _EXPORTS)
