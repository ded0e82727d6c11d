"""A model folder on disk, read without PyTorch: its ``config.json``, its weights' file and
their checked SHA-256, and the models the package ships.

Building the network from the weights is :func:`impasto.models.store.load_model`'s work; what
is here is all that running a model's ONNX export in onnxruntime needs.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from impasto.errors import InvalidOption, WeightsError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT = "impasto-model/1"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelFolder:
    """A model folder whose weights match the SHA-256 its config records."""

    path: Path
    config: dict[str, Any]
    sha256: str

    @property
    def weights(self) -> Path:
        return self.path / WEIGHTS_NAME

    @property
    def arch(self) -> str:
        return str(self.config.get("arch"))

    @property
    def name(self) -> str:
        return str(self.config.get("name") or self.path.name)


def shipped_models() -> dict[str, Path]:
    """Trained models inside the package (``impasto/models/pretrained/<name>/``)."""
    root = resources.files("impasto.models") / "pretrained"
    found: dict[str, Path] = {}
    if not root.is_dir():
        return found
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        path = Path(str(entry))
        if (path / CONFIG_NAME).is_file() and (path / WEIGHTS_NAME).is_file():
            found[entry.name] = path
    return found


def model_folder(source: str | os.PathLike[str]) -> Path:
    """The folder ``source`` names. Text that is a shipped model's name (a bare name: they
    have no path separator) is that model, and refused if it is also a local path (write
    ``./NAME`` for that); a path object is a path, or the shipped model where no such path
    exists."""
    shipped = shipped_models()
    name = os.fspath(source)
    if name in shipped:
        if isinstance(source, str):
            if Path(name).exists():
                raise InvalidOption(f"{name} is both a shipped model and a path here: write "
                                    f"./{name} for the local one")
            return shipped[name]
        if not Path(name).exists():
            return shipped[name]
    return Path(source)


def read_model_folder(source: str | os.PathLike[str]) -> ModelFolder:
    """A model folder, or a model the package ships, by name (see :func:`shipped_models`).
    The weights must match the SHA-256 that config.json records; a folder without one is
    refused."""
    folder = model_folder(source)
    if not folder.is_dir():
        raise InvalidOption(f"model not found: {source} (a folder with {CONFIG_NAME} and "
                            f"{WEIGHTS_NAME}, or one of: {', '.join(shipped_models()) or 'none'})")
    cfg_path, weights = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    for needed in (cfg_path, weights):
        if not needed.is_file():
            raise InvalidOption(f"{folder} is not a model folder: {needed.name} is missing")
    try:
        config = json.loads(cfg_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{cfg_path} is not readable JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise WeightsError(f"{cfg_path} is not an impasto model config ({FORMAT})")
    digest = sha256_file(weights)
    expected = config.get("weights_sha256")
    if not expected:
        raise WeightsError(f"{folder} has no checksum (weights_sha256 in {CONFIG_NAME}); re-save "
                           "it (impasto.models.save_model) to record one")
    if expected != digest:
        raise WeightsError(f"{weights} does not match its checksum in {CONFIG_NAME} "
                           f"(sha256 {digest[:12]}..., expected {str(expected)[:12]}...)")
    return ModelFolder(folder, config, digest)
