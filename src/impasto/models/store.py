"""Trained networks on disk: a folder with ``config.json`` and ``model.safetensors``.

``config.json`` names the architecture and its parameters, and records how the model was made
(style picture and its SHA-256, training options, steps) and the SHA-256 of the weights file,
which loading checks. Weights are never pickled.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from impasto.errors import InvalidOption, WeightsError
from impasto.models.folder import (
    CONFIG_NAME,
    FORMAT,
    WEIGHTS_NAME,
    read_model_folder,
    sha256_file,
    shipped_models,
)
from impasto.models.registry import architecture


@dataclass
class StyleModel:
    """A trained network and what its config says about it."""

    net: nn.Module
    arch: str
    stride: int
    config: dict[str, Any]
    path: Path | None = None
    sha256: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    kind: str = "style"

    @property
    def name(self) -> str:
        return str(self.config.get("name") or (self.path.name if self.path else self.arch))


def save_model(folder: str | os.PathLike[str], net: nn.Module, arch: str,
               params: dict[str, Any], info: dict[str, Any],
               dtype: torch.dtype = torch.float32) -> Path:
    """Write ``net`` (of registered ``arch`` built with ``params``) to ``folder``; atomic per
    file. ``info`` (name, style, training, licence ...) goes into config.json. ``dtype``
    ``torch.float16`` halves the file (a shipped model); loading casts to the network's own
    float type."""
    if dtype not in (torch.float32, torch.float16):
        raise InvalidOption(f"weights are saved as float32 or float16, not {dtype}")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / WEIGHTS_NAME
    tmp = weights.with_name(weights.name + ".part")
    state = {k: (v.detach().to(dtype) if v.is_floating_point() else v.detach()).contiguous().cpu()
             for k, v in net.state_dict().items()}
    save_file(state, str(tmp), metadata={"format": FORMAT, "arch": arch})
    os.replace(tmp, weights)
    config = {"format": FORMAT, "arch": arch, "params": architecture(arch).complete(params),
              **info,
              "weights_sha256": sha256_file(weights)}
    cfg_path = out / CONFIG_NAME
    tmp = cfg_path.with_name(cfg_path.name + ".part")
    tmp.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, cfg_path)
    return out


def load_model(source: str | os.PathLike[str], device: torch.device | str = "cpu") -> StyleModel:
    """Load a model folder, or a model the package ships, by name (see :func:`shipped_models`).
    The weights must match the SHA-256 that config.json records; a folder without one is
    refused."""
    found = read_model_folder(source)
    folder, config, digest, weights = found.path, found.config, found.sha256, found.weights
    arch = architecture(str(config.get("arch")))
    params = arch.complete(dict(config.get("params") or {}))
    net = arch.build(**params)
    try:
        state = load_file(str(weights))
        net.load_state_dict(state)
    except (SafetensorError, RuntimeError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"{weights} does not hold {arch.name} weights ({first})") from None
    net.eval().requires_grad_(False).to(device)
    # A decoder's stride depends on the layer it starts from.
    stride = int(getattr(net, "stride", arch.stride))
    return StyleModel(net=net, arch=arch.name, stride=stride, config=config, path=folder,
                      sha256=digest, params=params, kind=arch.kind)


def load_encoder(source: str | os.PathLike[str] | StyleModel,
                 device: torch.device | str = "cpu") -> StyleModel:
    """A distilled encoder by folder or shipped name; anything else is refused in one line."""
    model = source if isinstance(source, StyleModel) else load_model(source, device)
    if model.kind != "encoder":
        raise InvalidOption(f"{model.name} is not an encoder (it is a {model.kind} model)")
    return model


def load_shipped(name: str, device: torch.device | str = "cpu") -> StyleModel:
    """A model the package ships, by name (never a local folder of that name)."""
    path = shipped_models().get(name)
    if path is None:
        raise InvalidOption(f"{name} does not ship with this install")
    return load_model(path, device)


def shipped_configs() -> dict[str, dict[str, Any]]:
    """Each shipped model's ``config.json``, by name (read, not loaded: no weights)."""
    return {name: json.loads((path / CONFIG_NAME).read_text())
            for name, path in shipped_models().items()}


def default_decoders(method: str) -> dict[str, str]:
    """The shipped decoders a method uses when none is given, by layer: each decoder's
    ``config.json`` says which methods it serves by default, and at which layer
    (``"defaults_for": {"adain": "relu4_1"}``), so adding one needs no code."""
    found: dict[str, str] = {}
    for name, config in shipped_configs().items():
        layer = (config.get("defaults_for") or {}).get(method)
        if layer is not None:
            found[str(layer)] = name
    return found


def paired_model(name: str, role: str) -> str | None:
    """The shipped model a shipped model's ``config.json`` names as its partner in ``role``
    (``"pairs_with": {"decoder": ...}`` for an encoder, ``{"encoder": ...}`` for a
    decoder), or None."""
    config = shipped_configs().get(name) or {}
    partner = (config.get("pairs_with") or {}).get(role)
    return None if partner is None else str(partner)
