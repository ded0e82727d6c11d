"""Running a trained network on pictures of any size, with PyTorch or onnxruntime."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from impasto._version import __version__
from impasto.errors import InvalidOption
from impasto.image.resize import pad_to
from impasto.models.store import StyleModel
from impasto.runtime.cache import cache_dir
from impasto.runtime.precision import autocast


class StaleExportWarning(UserWarning):
    """A ``model.onnx`` beside a model's weights was exported from other weights (it is not
    used)."""


#: Largest stride of the registered networks: inputs are padded to a multiple of it.
MAX_STRIDE = 8


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


class OnnxBackend:
    """An exported model (see :func:`impasto.models.export.export_onnx`) in onnxruntime."""

    name = "onnx"

    def __init__(self, path: str | Path, *, stride: int = MAX_STRIDE, threads: int = 0) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise InvalidOption("--backend onnx needs onnxruntime: pip install "
                                "'impasto[onnx]'") from None
        options = ort.SessionOptions()
        options.log_severity_level = 3
        # Idle worker threads sleep rather than spin: alone it made no measurable difference,
        # next to video's motion thread spinning took the core that thread needed.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # As many threads as torch is given (by default the same: the physical cores), so one
        # setting governs both, as in a batch's Ray actor holding one CPU.
        options.intra_op_num_threads = threads or torch.get_num_threads()
        try:
            self.session = ort.InferenceSession(str(path), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise InvalidOption(f"cannot load {path} in onnxruntime: "
                                f"{str(exc).splitlines()[0]}") from None
        self.stride = stride
        self.input = self.session.get_inputs()[0].name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        padded, (h, w) = pad_to(x.detach().float().cpu(), self.stride)
        (y,) = self.session.run(None, {self.input: np.ascontiguousarray(padded.numpy())})
        return torch.from_numpy(y[..., :h, :w]).clamp(0.0, 1.0).contiguous()


def backend_for(model: StyleModel, backend: str, *, device: torch.device,
                precision: str = "fp32", channels_last: bool = False,
                compile: bool = False) -> TorchBackend | OnnxBackend:
    if backend == "torch":
        return TorchBackend(model, device=device, precision=precision,
                            channels_last=channels_last, compile=compile)
    if backend == "onnx":
        from impasto.models.export import export_onnx, onnx_weights_sha256

        # A model.onnx next to the weights (impasto export -o MODEL_DIR/model.onnx) is used
        # when it records these weights' SHA-256; otherwise (another model's, an export of
        # earlier weights or of an earlier version) the model is exported to a temporary file,
        # which onnxruntime reads once (nothing is written into the model folder), with a
        # warning that says how to refresh it.
        beside = model.path / "model.onnx" if model.path is not None else None
        if beside is not None and beside.is_file():
            found = OnnxBackend(beside, stride=model.stride)
            if model.sha256 and onnx_weights_sha256(found.session) == model.sha256:
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
    matches; None when the cache is off or cannot be written."""
    from impasto.models.export import export_onnx, onnx_weights_sha256

    folder = cache_dir("onnx") if model.sha256 else None
    if folder is None:
        return None
    path = folder / f"{model.arch}-{model.sha256}-{__version__}.onnx"
    if path.is_file():
        try:
            found = OnnxBackend(path, stride=model.stride)
            if onnx_weights_sha256(found.session) == model.sha256:
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
