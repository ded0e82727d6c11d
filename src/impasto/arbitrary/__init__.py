"""Arbitrary-style transfer (AdaIN, WCT): any style picture, one pass, no per-style training."""

from impasto.arbitrary.stylizer import (
    METHODS,
    ArbitraryPictures,
    ArbitraryStylizer,
    PreparedStyle,
    StyleStats,
)

__all__ = ["METHODS", "ArbitraryPictures", "ArbitraryStylizer", "PreparedStyle", "StyleStats"]
