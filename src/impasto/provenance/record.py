"""Provenance: where each input of a picture came from, as recorded in its metadata."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from impasto.image.io import ImageSource

#: Key of the JSON provenance record in an output's metadata.
METADATA_KEY = "impasto"


def source_record(source: ImageSource, image: Image.Image | np.ndarray) -> dict[str, Any]:
    """Where a picture came from: its file name and SHA-256 (of the file, or of the pixels,
    ``image`` as read)."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return {"name": path.name, "sha256": digest}
    digest = hashlib.sha256(np.asarray(image).tobytes()).hexdigest()
    return {"name": f"<{type(source).__name__}>", "sha256": digest}


#: What each method is, in the record (with the paper it follows).
METHOD_TITLES = {
    "optimize": "optimisation (Gatys et al. 2016)",
    "texture": "texture synthesis (Gatys et al. 2015)",
    "network": "feed-forward network (Johnson et al. 2016)",
    "adain": "AdaIN (Huang and Belongie 2017)",
    "wct": "WCT (Li et al. 2017)",
}


def build_record(*, method: str, options: dict[str, Any], runtime: dict[str, Any],
                 seconds: float, content: dict[str, Any] | None,
                 styles: list[dict[str, Any]], **parts: Any) -> dict[str, Any]:
    """The provenance record of one picture, for every method: the software, the method and
    every option that shaped the picture, where it ran, and each input with its SHA-256.
    ``parts`` add what a method has besides (``model``, ``encoder``, ``decoders``,
    ``masks``); parts that are None are left out. This is the one place a record is built."""
    from impasto._version import __version__

    record: dict[str, Any] = {
        "software": f"impasto {__version__}",
        "method": method,
        "title": METHOD_TITLES.get(method, method),
        "options": options,
        "device": runtime.get("device"),
        "precision": runtime.get("precision"),
        "backend": runtime.get("backend", "torch"),
        "seconds": round(seconds, 4),
        "content": content,
        "styles": styles,
    }
    record.update({k: v for k, v in parts.items() if v is not None})
    return record
