"""What ``impasto serve`` checks of a submission before it is accepted: the rate, the upload's
size, that it decodes as a picture within the pixel limit, the style ids, the masks and the
options (each a 4xx with a message, before anything is stored)."""

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


def decode(raw: bytes, max_pixels: int, what: str, *, or_video: bool = False
           ) -> dict[str, Any]:
    """Check that ``raw`` is a picture by decoding it (within the pixel limit); ``or_video``:
    the messages say that a video would do too (the content of a job)."""
    also = " or a video" if or_video else ""
    import warnings

    from PIL import Image

    formats = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "TIFF": "tif", "BMP": "bmp"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as img:
                fmt = img.format
                width, height = img.size
                turned = _quarter_turn(img)
                if width * height > max_pixels:
                    raise HTTPException(422, f"{what} has {width}x{height} pixels, over the "
                                             f"limit of {max_pixels}")
                if fmt not in formats:
                    raise HTTPException(422, f"{what} is a {fmt} file: send JPEG, PNG, WebP, "
                                             f"TIFF or BMP{also}")
                img.load()
    except HTTPException:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise HTTPException(422, f"{what} has too many pixels") from None
    except Exception:
        raise HTTPException(422, f"{what} is not a picture{also} (it could not be decoded)"
                            ) from None
    # "size": width and height as the picture is shown (and as the pipeline reads it).
    return {"ext": formats[fmt], "width": width, "height": height,
            "size": (height, width) if turned else (width, height)}


def _quarter_turn(img: Any) -> bool:
    """Whether the picture's EXIF orientation turns it by a quarter (width and height swap)."""
    try:
        return img.getexif().get(0x0112, 1) in (5, 6, 7, 8)
    except Exception:  # a broken EXIF block: read as stored
        return False


def job_spec(method: str, style_ids: list[str], options: str, store: Store
              ) -> dict[str, Any]:
    from impasto.pipeline import check_method

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
    return {"method": method, "styles": [style_entry(sid, store) for sid in style_ids],
            "options": values}


def style_entry(style_id: str, store: Store) -> dict[str, Any]:
    """A built-in or uploaded style by its id, as a job's request records it."""
    from impasto.styles import find_style

    builtin = find_style(style_id)
    if builtin is not None:
        return {"builtin": builtin.name}
    found = store.style(style_id)
    if found is None:
        raise HTTPException(422, f"no style {style_id!r}: GET /api/styles lists them")
    return {"file": found["file"], **{k: found[k] for k in (
        "title", "artist", "licence", "attribution") if found.get(k)}}


#: The options that may name a file (a model folder, a start picture): from a client, only the
#: names of what the service itself ships are taken, never a path on its machine.
NAMED_OPTIONS = ("model", "encoder", "decoders", "init")


def check_names(options: dict[str, Any]) -> None:
    """No option names a file of the service's machine: ``model``, ``encoder`` and
    ``decoders`` are shipped models' names, ``init`` a kind of start (a 422 otherwise: a model
    path would load anything there, a picture path would paint a private picture in)."""
    from impasto.models import shipped_models

    shipped = sorted(shipped_models())
    allowed = {"model": shipped, "encoder": ["vgg19", *shipped], "decoders": shipped,
               "init": ["auto", "adain", "content", "noise"]}
    for key in NAMED_OPTIONS:
        value = options.get(key)
        for name in value if isinstance(value, list) else [value]:
            if name is not None and (not isinstance(name, str) or name not in allowed[key]):
                raise HTTPException(422, f"option {key} must be one of "
                                         f"{', '.join(allowed[key]) or 'none here'} (no path: "
                                         f"the service reads only its own files), not {name!r}")


def check_request(method: str, spec: dict[str, Any]) -> None:
    """The options checked now, as the worker will build them (a bad option is a 422 at
    submission, not a failed job later)."""
    import numpy as np

    from impasto.pipeline import Request as PictureRequest

    check_names(spec["options"])

    placeholder = np.zeros((16, 16, 3), np.uint8)
    styles = [s.get("builtin", placeholder) for s in spec["styles"]]
    protect = [(placeholder, spec["protect"]["weight"])] if spec.get("protect") else []
    region = spec.get("region")
    masks = [(placeholder, region["style"]), (placeholder, 1)] if region else []
    try:
        request = PictureRequest(placeholder, styles, method=method, options=spec["options"],
                                 protect=protect, masks=masks)
    except ImpastoError as exc:
        raise HTTPException(422, str(exc).replace("\n", " ")) from None
    except (TypeError, ValueError) as exc:
        raise HTTPException(422, f"bad options: {exc}") from None
    loss = getattr(request.options, "style_loss", "gram")
    if region and loss != "gram":
        raise HTTPException(422, f"a region style with method optimize needs style_loss gram, "
                                 f"not {loss}")


#: Any channel further than this from the others (of 255) is colour, not grey (as
#: impasto.image.masks reads masks).
GREY_TOLERANCE = 3
#: A mask with nothing brighter than this (of 255) has nothing brushed on it.
BLANK = 8


def mask_pixels(raw: bytes, photo: dict[str, Any], what: str) -> Any:
    """A mask (``decode`` passed) as a greyscale PIL image: grey, and of the photo's shape (the
    pipeline scales it to the picture's size). Light on memory at the pixel limit."""
    from PIL import Image, ImageChops, ImageOps

    with Image.open(io.BytesIO(raw)) as img:
        try:
            shown = ImageOps.exif_transpose(img)
        except Exception:  # a broken EXIF block: the picture as it is stored
            shown = img
        rgb = shown.convert("RGB")
    red, green, blue = rgb.split()
    if max(ImageChops.difference(a, b).getextrema()[1] for a, b in (
            (red, green), (green, blue), (red, blue))) > GREY_TOLERANCE:
        raise HTTPException(422, f"{what} must be black and white (or grey), not in colour")
    width, height = rgb.size
    photo_width, photo_height = photo["size"]
    if abs((width / height) / (photo_width / photo_height) - 1.0) > 0.01:
        raise HTTPException(422, f"{what} is {width}x{height} but the photo is "
                                 f"{photo_width}x{photo_height}: a mask must have the "
                                 "photo's shape")
    return rgb.convert("L")


def region_spec(spec: dict[str, Any], style_id: str | None, raw: bytes | None,
                photo: dict[str, Any], max_pixels: int, store: Store
                ) -> tuple[dict[str, Any], bytes] | None:
    """A second style for a brushed region: the style appended to ``spec["styles"]``, and
    (the region's record, the rest of the picture's mask as PNG bytes); None without one."""
    from PIL import ImageOps

    if style_id is None and raw is None:
        return None
    if spec["method"] == "network":
        raise HTTPException(422, "a second style in a brushed region goes with methods adain, "
                                 "wct and optimize, not network (a trained network paints "
                                 "its own style)")
    if raw is None:
        raise HTTPException(422, "region_style_id needs a region: a mask, white where that "
                                 "style goes")
    if style_id is None:
        raise HTTPException(422, "a region mask needs region_style_id: the style that goes "
                                 "where the mask is white")
    if len(spec["styles"]) != 1:
        raise HTTPException(422, f"a region style goes with one main style (the rest of the "
                                 f"picture), not {len(spec['styles'])}")
    second = style_entry(style_id, store)
    picture = decode(raw, max_pixels, "the region mask")
    grey = mask_pixels(raw, photo, "the region mask")
    if grey.getextrema()[1] < BLANK:
        raise HTTPException(422, "the region mask is all black: brush (in white) where the "
                                 "second style goes")
    spec["styles"].append(second)
    rest = io.BytesIO()
    ImageOps.invert(grey).save(rest, "PNG")
    region = {"upload": f"region.{picture['ext']}", "rest": "region-rest.png",
              "style": len(spec["styles"])}
    return region, rest.getvalue()
