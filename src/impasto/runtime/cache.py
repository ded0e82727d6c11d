"""The user's cache folder: work that every process would otherwise redo (a network's ONNX
export, a built-in style's prepared statistics), kept on disk, each file named by the
checksum of what it was made from and checked again when read.

``$IMPASTO_CACHE`` names the folder (``off`` turns the cache off); otherwise
``$XDG_CACHE_HOME/impasto`` or ``~/.cache/impasto``. A cache that cannot be written is
skipped, never an error: the work is then done in memory as before.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

CACHE_ENV = "IMPASTO_CACHE"


def cache_dir(kind: str) -> Path | None:
    """``<cache>/<kind>``, created; None when the cache is off or cannot be written."""
    value = os.environ.get(CACHE_ENV, "")
    if value.lower() in ("off", "0", "no", "false"):
        return None
    if value:
        root = Path(value).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        root = Path(base) / "impasto"
    folder = root / kind
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


def write_atomic(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename, so
    that another process never reads half a file; False (nothing left behind) when it fails."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError:
        return False
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
        return True
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        return False


def cache_key(parts: dict[str, Any]) -> str:
    """A file name for what ``parts`` (JSON-able: inputs' hashes, options, code version)
    describe: the SHA-256 of their canonical JSON."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def code_hash(*modules: ModuleType) -> str:
    """The SHA-256 of these modules' source files and impasto's version: a cache entry made by
    other code is not used."""
    from impasto._version import __version__

    digest = hashlib.sha256(__version__.encode())
    for module in modules:
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()


def load_tensors(kind: str, key: str) -> Any | None:
    """What :func:`save_tensors` kept under ``key`` (tensors, in dicts, lists and tuples), or
    None when there is none, the cache is off, or the entry is damaged (it is then removed:
    a damaged entry is never trusted)."""
    import torch

    folder = cache_dir(kind)
    if folder is None:
        return None
    path = folder / f"{key}.pt"
    try:
        data = path.read_bytes()
    except OSError:
        return None
    head, _, payload = data.partition(b"\n")
    if head.decode("ascii", "replace") != hashlib.sha256(payload).hexdigest():
        path.unlink(missing_ok=True)
        return None
    try:
        return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception:  # a payload torch cannot read, whatever the reason: made again
        path.unlink(missing_ok=True)
        return None


def save_tensors(kind: str, key: str, value: Any) -> bool:
    """Keep ``value`` under ``key``: its SHA-256, a newline, then ``torch.save``'s bytes,
    written atomically; False when the cache is off or cannot be written."""
    import torch

    folder = cache_dir(kind)
    if folder is None:
        return False
    buffer = io.BytesIO()
    torch.save(value, buffer)
    payload = buffer.getvalue()
    return write_atomic(folder / f"{key}.pt",
                        hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
