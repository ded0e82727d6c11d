"""Stylising with trained feed-forward networks: the API behind ``impasto stylize --model``,
folders, stdin/stdout and the webcam."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from impasto._version import __version__
from impasto.errors import InvalidOption
from impasto.image.color import finish
from impasto.image.io import (
    DEFAULT_MAX_PIXELS,
    ImageSource,
    open_image,
    save_image,
    split_alpha,
    to_pil,
    to_tensor,
    with_alpha,
)
from impasto.image.resize import fit_long_side, resize
from impasto.models.inference import OnnxBackend, TorchBackend, backend_for
from impasto.models.store import StyleModel, load_model
from impasto.provenance import METADATA_KEY, source_record
from impasto.runtime.device import resolve_device
from impasto.runtime.precision import resolve_precision


@dataclass(frozen=True)
class NetworkResult:
    """A picture made by a network, and how."""

    image: Image.Image
    tensor: torch.Tensor  # (1, 3, H, W) float in [0, 1] on the CPU
    alpha: Image.Image | None
    seconds: float
    metadata: dict[str, str]

    def save(self, path: str | os.PathLike[str], *, bit_depth: int = 8) -> Path:
        return save_image(self.tensor, path, metadata=self.metadata, alpha=self.alpha,
                          bit_depth=bit_depth)


class NetworkStylizer:
    """A trained network loaded once, for files, folders and frames.

    Args:
        model: a model folder, a shipped model's name, or a loaded :class:`StyleModel`.
        backend: ``"torch"`` or ``"onnx"`` (onnxruntime, CPU).
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16`` (torch backend).
        channels_last, compile: torch backend options (``torch.compile`` where available).
    """

    def __init__(self, model: str | os.PathLike[str] | StyleModel, *, device: str = "cpu",
                 backend: str = "torch", precision: str = "fp32", channels_last: bool = False,
                 compile: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.device = resolve_device(device)
        self.model = model if isinstance(model, StyleModel) else load_model(model, self.device)
        if backend == "onnx" and self.device.type != "cpu":
            raise InvalidOption("--backend onnx runs on the CPU; use --device cpu")
        # onnxruntime runs the float32 export; on CPUs auto keeps these small networks in
        # float32 too (their time goes to norms and padding, not to matmuls; bf16 is not
        # measured for them yet).
        cpu_auto = precision == "auto" and self.device.type == "cpu"
        self.precision = ("fp32" if backend != "torch" or cpu_auto
                          else resolve_precision(precision, self.device))
        self.backend_name = backend
        self.backend: TorchBackend | OnnxBackend = backend_for(
            self.model, backend, device=self.device, precision=self.precision,
            channels_last=channels_last, compile=compile)
        self.max_pixels = max_pixels

    def tensor(self, x: torch.Tensor, *, strength: float = 1.0,
               preserve_color: str = "none") -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> stylised, same shape, on the CPU."""
        styled = self.backend(x).cpu()
        return finish(styled, x.cpu(), strength=strength, preserve_color=preserve_color)

    def __call__(self, content: ImageSource, *, strength: float = 1.0,
                 preserve_color: str = "none", size: int | None = None) -> NetworkResult:
        started = time.perf_counter()
        picture = open_image(content, max_pixels=self.max_pixels, name="content")
        rgb, alpha = split_alpha(picture)
        x = to_tensor(rgb)
        if size is not None:
            if not isinstance(size, int) or size < 16:
                raise InvalidOption(f"size must be an integer of at least 16, not {size!r}")
            x = resize(x, fit_long_side(x.shape[-2], x.shape[-1], size))
        out = self.tensor(x, strength=strength, preserve_color=preserve_color)
        seconds = time.perf_counter() - started
        image, alpha = with_alpha(to_pil(out), alpha)
        record: dict[str, Any] = {
            "software": f"impasto {__version__}",
            "method": "feed-forward network (Johnson et al. 2016)",
            "model": {"name": self.model.name, "arch": self.model.arch,
                      "sha256": self.model.sha256,
                      "style": self.model.config.get("style")},
            "options": {"strength": strength, "preserve_color": preserve_color, "size": size,
                        "backend": self.backend_name, "precision": self.precision},
            "device": self.device.type,
            "seconds": round(seconds, 4),
            "content": source_record(content, rgb),
        }
        return NetworkResult(image=image, tensor=out, alpha=alpha, seconds=seconds,
                             metadata={METADATA_KEY: json.dumps(record, sort_keys=True)})
