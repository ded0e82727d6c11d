"""A trained network's ONNX export run in onnxruntime on numpy arrays: the CPU's fastest way
to run one (``runtime/policy.py``), and one that needs no PyTorch.

An export is usable when its metadata records the SHA-256 of the weights it was made from and
the network's stride (:func:`impasto.models.export.export_onnx` writes both). It is found
beside the weights (``MODEL_DIR/model.onnx``, from ``impasto export``) or in the user's cache
(:mod:`impasto.runtime.cache`), where the first use of a model puts it; making it needs
PyTorch (:func:`impasto.models.inference.backend_for`), using it does not.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from impasto._version import __version__
from impasto.errors import InvalidOption
from impasto.image.resize import pad_array
from impasto.models.folder import ModelFolder
from impasto.runtime.cache import cache_dir

if TYPE_CHECKING:
    import torch

#: The ONNX metadata key that holds the SHA-256 of the weights a file was exported from.
WEIGHTS_KEY = "impasto_weights_sha256"
#: The ONNX metadata key that holds the network's stride (its inputs' sides divide by it).
STRIDE_KEY = "impasto_stride"
#: Largest stride of the registered networks: inputs are padded to a multiple of it when an
#: export does not say its own.
MAX_STRIDE = 8


def default_threads() -> int:
    """The threads onnxruntime is given: as many as PyTorch has when it is loaded (one
    setting governs both, as in a batch's Ray actor holding one CPU), else 0, onnxruntime's
    own default of one per physical core, which is also PyTorch's."""
    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None else 0


class OnnxBackend:
    """An exported model in onnxruntime: :meth:`run` on numpy arrays, or called on a tensor."""

    name = "onnx"

    def __init__(self, path: str | Path, *, stride: int | None = None,
                 threads: int = 0) -> None:
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
        options.intra_op_num_threads = threads or default_threads()
        try:
            self.session = ort.InferenceSession(str(path), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise InvalidOption(f"cannot load {path} in onnxruntime: "
                                f"{str(exc).splitlines()[0]}") from None
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        recorded = self.metadata.get(STRIDE_KEY, "")
        self.stride = stride or (int(recorded) if recorded.isdigit() else MAX_STRIDE)
        self.input = self.session.get_inputs()[0].name

    @property
    def weights_sha256(self) -> str | None:
        """The SHA-256 of the weights the export records, or None."""
        return self.metadata.get(WEIGHTS_KEY)

    def run(self, x: np.ndarray) -> np.ndarray:
        """(B, 3, H, W) float32 in [0, 1] of any size: padded to the stride, cropped back,
        clamped to [0, 1]."""
        padded, (h, w) = pad_array(np.asarray(x, dtype=np.float32), self.stride)
        (y,) = self.session.run(None, {self.input: np.ascontiguousarray(padded)})
        return np.ascontiguousarray(np.clip(y[..., :h, :w], 0.0, 1.0))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.from_numpy(self.run(x.detach().float().cpu().numpy()))


def cached_export_path(arch: str, sha256: str) -> Path | None:
    """Where the user's cache keeps a model's export (named by its weights' SHA-256 and
    impasto's version), or None when the cache is off or cannot be written."""
    folder = cache_dir("onnx")
    return None if folder is None else folder / f"{arch}-{sha256}-{__version__}.onnx"


def usable(backend: OnnxBackend, sha256: str) -> bool:
    """Whether an export is of these weights and records its stride."""
    return backend.weights_sha256 == sha256 and STRIDE_KEY in backend.metadata


def find_export(model: ModelFolder, threads: int = 0) -> OnnxBackend | None:
    """The model's usable export beside its weights or in the cache, loaded; None when there
    is none yet (a damaged or stale one is passed over)."""
    cached = cached_export_path(model.arch, model.sha256)
    for path in (model.path / "model.onnx", cached):
        if path is None or not path.is_file():
            continue
        try:
            found = OnnxBackend(path, threads=threads)
        except InvalidOption:
            continue
        if usable(found, model.sha256):
            return found
    return None
