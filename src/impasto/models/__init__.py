"""Feed-forward networks: architectures registered by name, trained models on disk.

Importing this package registers every built-in architecture (each module registers itself);
model folders and the shipped models are read by :mod:`impasto.models.store`.
"""

from impasto.models import decoder, fast, johnson, student  # noqa: F401  (registers them)
from impasto.models.registry import Architecture, architecture, architectures, register
from impasto.models.store import (
    StyleModel,
    load_encoder,
    load_model,
    save_model,
    shipped_models,
)

__all__ = [
    "Architecture",
    "StyleModel",
    "architecture",
    "architectures",
    "load_encoder",
    "load_model",
    "register",
    "save_model",
    "shipped_models",
]
