"""Losses (layer 2): pure functions in :mod:`functional`, thin modules over them."""

from impasto.losses.functional import content_loss, gram, gram_style_loss, tv_loss
from impasto.losses.modules import ContentLoss, GramStyleLoss, TVLoss

__all__ = [
    "ContentLoss",
    "GramStyleLoss",
    "TVLoss",
    "content_loss",
    "gram",
    "gram_style_loss",
    "tv_loss",
]
