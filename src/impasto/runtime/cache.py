"""The user's cache folder: work that every process would otherwise redo at start-up (the
decoded VGG-19 weights, a network's ONNX export), kept on disk, each file named by the
checksum of what it was made from and checked again when read.

``$IMPASTO_CACHE`` names the folder (``off`` turns the cache off); otherwise
``$XDG_CACHE_HOME/impasto`` or ``~/.cache/impasto``. A cache that cannot be written is
skipped, never an error: the work is then done in memory as before.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

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
