"""Frozen feature encoders: VGG-19 with named layers, its weights (checked by SHA-256) and the
facts of its layers. It imports nothing of impasto but the errors."""

from impasto.features.vgg import LAYER_NAMES, VGG19
from impasto.features.weights import WEIGHTS_SHA256, load_vgg19_state

__all__ = ["LAYER_NAMES", "VGG19", "WEIGHTS_SHA256", "load_vgg19_state"]
