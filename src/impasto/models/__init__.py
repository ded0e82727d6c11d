"""Feed-forward style networks: architectures registered by name, trained models on disk."""

from impasto.models.registry import Architecture, architecture, architectures, register
from impasto.models.store import StyleModel, load_model, save_model, shipped_models

__all__ = [
    "Architecture",
    "StyleModel",
    "architecture",
    "architectures",
    "load_model",
    "register",
    "save_model",
    "shipped_models",
]
