"""Frozen feature encoders: VGG-19 with named layers, its weights (checked by SHA-256) and the
facts of its layers. It imports nothing of impasto but the errors. The names below are
imported when first used (the layers' names, :mod:`impasto.features.layers`, need no
PyTorch)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from impasto._lazy import lazy_names

_EXPORTS = {"LAYER_NAMES": "impasto.features.layers", "VGG19": "impasto.features.vgg",
            "WEIGHTS_SHA256": "impasto.features.weights",
            "load_vgg19_state": "impasto.features.weights"}

if TYPE_CHECKING:
    from impasto.features.layers import LAYER_NAMES
    from impasto.features.vgg import VGG19
    from impasto.features.weights import WEIGHTS_SHA256, load_vgg19_state

__all__ = ["LAYER_NAMES", "VGG19", "WEIGHTS_SHA256", "load_vgg19_state"]

__getattr__, __dir__ = lazy_names(__name__, _EXPORTS)
