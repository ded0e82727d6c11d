"""Quality metrics: how close a result is to the style, to the content, and in colour."""

from impasto.metrics.scores import Scorer, Scores

__all__ = ["Scorer", "Scores"]
