"""Feed-forward networks: architectures registered by name, trained models on disk.

Model folders and the shipped models are read by :mod:`impasto.models.folder` (without
PyTorch) and loaded by :mod:`impasto.models.store`; the registry
(:mod:`impasto.models.registry`) imports the built-in architectures when first consulted.
The names below are imported when first used, so reading a model folder does not load
PyTorch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from impasto._lazy import lazy_names

_EXPORTS = {
    "Architecture": "impasto.models.registry", "architecture": "impasto.models.registry",
    "architectures": "impasto.models.registry", "register": "impasto.models.registry",
    "StyleModel": "impasto.models.store", "load_encoder": "impasto.models.store",
    "load_model": "impasto.models.store", "save_model": "impasto.models.store",
    "shipped_models": "impasto.models.folder",
}

if TYPE_CHECKING:
    from impasto.models.folder import shipped_models
    from impasto.models.registry import Architecture, architecture, architectures, register
    from impasto.models.store import StyleModel, load_encoder, load_model, save_model

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

__getattr__, __dir__ = lazy_names(__name__, _EXPORTS)
