"""The impasto error hierarchy.

Every error a user can cause derives from :class:`ImpastoError`; front ends turn these into one
line on stderr and exit code 2. Anything else escaping the library is a bug.
"""

from __future__ import annotations


class ImpastoError(Exception):
    """Base class of every error impasto raises on purpose."""


class InvalidImage(ImpastoError):
    """An input picture is missing, unreadable, truncated, empty or too large."""


class InvalidOption(ImpastoError, ValueError):
    """An option has a value outside what is allowed."""


class OutputError(ImpastoError):
    """The output cannot be written where asked."""


class WeightsError(ImpastoError):
    """The VGG-19 weights are missing, altered or undecodable."""


class Cancelled(ImpastoError):
    """A run was cancelled through its CancelToken."""


class Diverged(ImpastoError):
    """The optimisation produced NaN or inf and could not recover."""


class AnimatedPictureWarning(UserWarning):
    """An animated picture (GIF, APNG, WebP) was read as its first frame."""
