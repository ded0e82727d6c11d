"""Frozen feature encoders (layer 1)."""

from impasto.features.vgg import LAYER_NAMES, VGG19
from impasto.features.weights import WEIGHTS_SHA256, load_vgg19_state

__all__ = ["LAYER_NAMES", "VGG19", "WEIGHTS_SHA256", "load_vgg19_state"]
