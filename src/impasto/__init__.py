"""impasto: neural style transfer.

The public API is :func:`stylize`, :class:`Stylizer`, :func:`score` and
:class:`TransferConfig`; nothing here loads weights or probes devices at import time.
"""

from impasto._version import __version__
from impasto.api import Stylizer, StylizeResult, score, stylize
from impasto.config import TransferConfig
from impasto.errors import (
    Cancelled,
    Diverged,
    ImpastoError,
    InvalidImage,
    InvalidOption,
    OutputError,
    WeightsError,
)
from impasto.optim.events import CancelToken, Progress

__all__ = [
    "CancelToken",
    "Cancelled",
    "Diverged",
    "ImpastoError",
    "InvalidImage",
    "InvalidOption",
    "OutputError",
    "Progress",
    "StylizeResult",
    "Stylizer",
    "TransferConfig",
    "WeightsError",
    "__version__",
    "score",
    "stylize",
]
