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


def source_record(source: ImageSource, image: Image.Image) -> dict[str, Any]:
    """Where a picture came from: its file name and SHA-256 (of the file, or of the pixels)."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return {"name": path.name, "sha256": digest}
    digest = hashlib.sha256(np.asarray(image).tobytes()).hexdigest()
    return {"name": f"<{type(source).__name__}>", "sha256": digest}
