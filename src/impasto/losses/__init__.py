"""Loss math: pure functions in :mod:`functional` (and the style-loss families over
them in :mod:`families`, :mod:`style`, :mod:`guided`)."""

from impasto.losses.functional import content_loss, gram, gram_style_loss, tv_loss

__all__ = [
    "content_loss",
    "gram",
    "gram_style_loss",
    "tv_loss",
]
