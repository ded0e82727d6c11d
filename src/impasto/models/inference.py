"""Running a trained network on pictures of any size, with PyTorch or onnxruntime."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from impasto.errors import InvalidOption
from impasto.image.resize import pad_to
from impasto.models.onnx import (
    MAX_STRIDE,
    OnnxBackend,
    cached_export_path,
    usable,
)
from impasto.models.store import StyleModel
from impasto.runtime.precision import autocast

__all__ = ["MAX_STRIDE", "OnnxBackend", "StaleExportWarning", "TorchBackend", "backend_for",
           "run_network"]


class StaleExportWarning(UserWarning):
    """A ``model.onnx`` beside a model's weights was exported from other weights (it is not
    used)."""


def run_network(net: nn.Module, x: torch.Tensor, *, stride: int = MAX_STRIDE,
                precision: str = "fp32", channels_last: bool = False) -> torch.Tensor:
    """``net`` on a (B, 3, H, W) batch of any size: padded to ``stride``, cropped back,
    clamped to [0, 1], float32."""
    padded, (h, w) = pad_to(x, stride)
    if channels_last:
        padded = padded.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), autocast(precision, x.device):
        y = net(padded)
    return y[..., :h, :w].float().clamp(0.0, 1.0).contiguous()


class TorchBackend:
    """A model on a device, optionally in channels_last, under autocast and torch.compile."""

    name = "torch"

    def __init__(self, model: StyleModel, *, device: torch.device, precision: str = "fp32",
                 channels_last: bool = False, compile: bool = False) -> None:
        self.model = model
        self.device = device
        self.precision = precision
        self.channels_last = channels_last
        net = model.net.to(device)
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
        if compile:
            try:
                net = torch.compile(net, dynamic=True)
            except Exception as exc:  # the compiler stack is optional and platform-dependent
                raise InvalidOption(f"--compile is not available here: {exc}") from None
        self.net = net

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return run_network(self.net, x.to(self.device), stride=self.model.stride,
                           precision=self.precision, channels_last=self.channels_last)


def backend_for(model: StyleModel, backend: str, *, device: torch.device,
                precision: str = "fp32", channels_last: bool = False,
                compile: bool = False) -> TorchBackend | OnnxBackend:
    if backend == "torch":
        return TorchBackend(model, device=device, precision=precision,
                            channels_last=channels_last, compile=compile)
    if backend == "onnx":
        from impasto.models.export import export_onnx

        # A model.onnx next to the weights (impasto export -o MODEL_DIR/model.onnx) is used
        # when it records these weights' SHA-256; otherwise (another model's, an export of
        # earlier weights or of an earlier version) the model is exported to a temporary file,
        # which onnxruntime reads once (nothing is written into the model folder), with a
        # warning that says how to refresh it.
        beside = model.path / "model.onnx" if model.path is not None else None
        if beside is not None and beside.is_file():
            found = OnnxBackend(beside, stride=model.stride)
            if model.sha256 and found.weights_sha256 == model.sha256:
                return found
            warnings.warn(f"{beside} was not exported from these weights; exporting them "
                          f"afresh (impasto export {model.path} -o {beside} refreshes it)",
                          StaleExportWarning, stacklevel=2)
        cached = _cached_backend(model)
        if cached is not None:
            return cached
        with tempfile.TemporaryDirectory(prefix="impasto-onnx-") as tmp:
            return OnnxBackend(export_onnx(model, Path(tmp) / "model.onnx"),
                               stride=model.stride)
    raise InvalidOption(f"backend must be torch or onnx, not {backend!r}")


def _cached_backend(model: StyleModel) -> OnnxBackend | None:
    """The model's export from the user's cache (:mod:`impasto.runtime.cache`), exported there
    first when missing: a later process skips the export (about a second). The file is named
    by the weights' SHA-256 and impasto's version and used only when the SHA-256 it records
    matches and the stride is recorded (so that a later process runs it without PyTorch,
    :mod:`impasto.models.onnx`); None when the cache is off or cannot be written."""
    from impasto.models.export import export_onnx

    path = cached_export_path(model.arch, model.sha256) if model.sha256 else None
    if path is None:
        return None
    folder = path.parent
    if path.is_file():
        try:
            found = OnnxBackend(path, stride=model.stride)
            if usable(found, model.sha256):
                return found
        except InvalidOption:  # a damaged file: export it again
            pass
        path.unlink(missing_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=folder, prefix=".export-") as tmp:
            os.replace(export_onnx(model, Path(tmp) / "model.onnx"), path)
    except OSError:
        return None
    return OnnxBackend(path, stride=model.stride)
