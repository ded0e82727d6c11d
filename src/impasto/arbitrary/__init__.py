"""Arbitrary-style transfer (AdaIN, WCT): any style picture, one pass, no per-style training.

:mod:`impasto.arbitrary.core` holds the tensor core (encoders, transforms, decoders, patches);
pictures in and out go through :func:`impasto.render` with ``method="adain"`` or ``"wct"``.
"""

from impasto.arbitrary.core import METHODS, ArbitraryStylizer, StyleStats

__all__ = ["METHODS", "ArbitraryStylizer", "StyleStats"]
