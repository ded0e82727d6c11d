"""What ``impasto serve`` checks of a submission before it is accepted: the rate, the upload's
size, that it decodes as a picture within the pixel limit, the style ids and the options
(each a 4xx with a message, before anything is stored)."""

from __future__ import annotations

import io
import json
import threading
import time
from typing import Any

from fastapi import HTTPException, Request, UploadFile

from impasto.errors import ImpastoError
from impasto.serve.store import Store


class Limiter:
    """A token bucket per client: ``rate`` submissions a second, ``burst`` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.buckets: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        with self.lock:
            tokens, last = self.buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self.buckets[client] = (tokens, now)
                return False
            self.buckets[client] = (tokens - 1.0, now)
            return True


def check_rate(limiter: Limiter, request: Request, who: str | None) -> None:
    key = who or (request.client.host if request.client else "local")
    if not limiter.allow(key):
        raise HTTPException(429, "too many requests: slow down", headers={"Retry-After": "1"})


async def read_upload(upload: UploadFile, limit: int) -> bytes:
    raw = await upload.read(limit + 1)
    if len(raw) > limit:
        size = (f"{limit / (1024 * 1024):g} MB" if limit >= 1024 * 1024
                else f"{limit / 1024:g} kB")
        raise HTTPException(413, f"{upload.filename or 'the upload'} is over the limit of "
                                 f"{size}")
    if not raw:
        raise HTTPException(422, f"{upload.filename or 'the upload'} is empty")
    return raw


def decode(raw: bytes, max_pixels: int, what: str) -> dict[str, Any]:
    """Check that ``raw`` is a picture by decoding it (within the pixel limit)."""
    import warnings

    from PIL import Image

    formats = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "TIFF": "tif", "BMP": "bmp"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as img:
                fmt = img.format
                width, height = img.size
                if width * height > max_pixels:
                    raise HTTPException(422, f"{what} has {width}x{height} pixels, over the "
                                             f"limit of {max_pixels}")
                if fmt not in formats:
                    raise HTTPException(422, f"{what} is a {fmt} file: send JPEG, PNG, WebP, "
                                             "TIFF or BMP")
                img.load()
    except HTTPException:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise HTTPException(422, f"{what} has too many pixels") from None
    except Exception:
        raise HTTPException(422, f"{what} is not a picture (it could not be decoded)") from None
    return {"ext": formats[fmt], "width": width, "height": height}


def job_spec(method: str, style_ids: list[str], options: str, store: Store
              ) -> dict[str, Any]:
    from impasto.pipeline import check_method
    from impasto.styles import find_style

    try:
        values = json.loads(options or "{}")
    except ValueError:
        raise HTTPException(422, "options must be a JSON object") from None
    if not isinstance(values, dict):
        raise HTTPException(422, "options must be a JSON object")
    try:
        method = check_method(method)
    except ImpastoError as exc:
        raise HTTPException(422, str(exc)) from None
    styles: list[dict[str, Any]] = []
    for sid in style_ids:
        builtin = find_style(sid)
        if builtin is not None:
            styles.append({"builtin": builtin.name})
            continue
        found = store.style(sid)
        if found is None:
            raise HTTPException(422, f"no style {sid!r}: GET /api/styles lists them")
        styles.append({"file": found["file"], **{k: found[k] for k in (
            "title", "artist", "licence", "attribution") if found.get(k)}})
    return {"method": method, "styles": styles, "options": values}


def check_request(method: str, spec: dict[str, Any]) -> None:
    """The options checked now, as the worker will build them (a bad option is a 422 at
    submission, not a failed job later)."""
    import numpy as np

    from impasto.pipeline import Request as PictureRequest

    placeholder = np.zeros((16, 16, 3), np.uint8)
    styles = [s.get("builtin", placeholder) for s in spec["styles"]]
    protect = [(placeholder, spec["protect"]["weight"])] if spec.get("protect") else []
    try:
        PictureRequest(placeholder, styles, method=method, options=spec["options"],
                       protect=protect)
    except ImpastoError as exc:
        raise HTTPException(422, str(exc).replace("\n", " ")) from None
    except (TypeError, ValueError) as exc:
        raise HTTPException(422, f"bad options: {exc}") from None
