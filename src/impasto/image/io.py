"""Reading pictures, and pictures as tensors (writing: :mod:`impasto.image.save`).

Inputs (paths, PIL images or numpy arrays) become fully loaded RGB or RGBA PIL images: the EXIF
orientation is applied, an embedded ICC profile is converted to sRGB (ignored if that fails),
and greyscale, palette, CMYK, 1-bit and 16/32-bit greyscale pictures are converted to 8-bit RGB.

Alpha policy: a picture with an alpha channel is composited over white to give the RGB that is
stylised (:func:`split_alpha`), and its alpha channel is carried through to the output when the
output format supports it (PNG, WebP, TIFF). JPEG output gets no alpha.
"""

from __future__ import annotations

import functools
import io
import os
import re
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
from PIL import Image, ImageCms, ImageOps

from impasto.errors import InvalidImage

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ImageSource",
    "open_image",
    "rgb8_array",
    "split_alpha",
    "tensor_to_array",
    "to_array",
    "to_pil",
    "to_tensor",
]

DEFAULT_MAX_PIXELS = 100_000_000
"""Largest picture, in pixels, that :func:`open_image` decodes unless told otherwise."""

ImageSource: TypeAlias = str | os.PathLike[str] | Image.Image | np.ndarray

#: Modes that carry an alpha channel.
ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}

# Pillow's own decompression-bomb limit is a module global; it is lifted (under this lock) only
# when the caller's max_pixels is above it.
_PILLOW_LIMIT_LOCK = threading.Lock()


# --------------------------------------------------------------------------------------- reading


#: The picture files impasto reads from a folder (a folder of photos, styles or training
#: pictures).
PICTURE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})


def open_image(
    source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS, name: str = "image"
) -> Image.Image:
    """Load ``source`` as a fully decoded RGB or RGBA image; problems raise InvalidImage."""
    label = f"{name} image"
    if isinstance(source, Image.Image):
        _check_size(source.size, max_pixels, label, "(in-memory image)")
        try:
            source.load()
        except Exception as exc:
            raise InvalidImage(f"{label} cannot be decoded: {error_reason(exc)}") from None
        return _normalise(source)
    if isinstance(source, np.ndarray):
        return _from_array(source, label, max_pixels)
    if isinstance(source, (str, os.PathLike)):
        return _open_path(Path(os.fspath(source)).expanduser(), label, max_pixels)
    raise InvalidImage(f"{label}: unsupported source of type {type(source).__name__}")


def error_reason(exc: BaseException) -> str:
    """One-line description of an exception."""
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return " ".join(text.split()) or type(exc).__name__


def _too_large(label: str, where: str, pixels: int | None, size: str, max_pixels: int) -> str:
    count = f"{pixels:,} pixels{size}, more than" if pixels is not None else "more pixels than"
    return (
        f"{label} is too large: {where} has {count} the limit of {max_pixels:,}; "
        "raise it with the max_pixels option if the file is trusted"
    )


def _check_size(size: tuple[int, int], max_pixels: int, label: str, where: str) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise InvalidImage(f"{label} is empty ({width}x{height} pixels): {where}")
    pixels = width * height
    if pixels > max_pixels:
        raise InvalidImage(_too_large(label, where, pixels, f" ({width}x{height})", max_pixels))


#: Formats whose files may hold an animation (a multi-page TIFF is not one).
ANIMATED_FORMATS = {"GIF", "PNG", "WEBP"}


def frame_count(source: ImageSource) -> int:
    """How many frames an animated picture (GIF, APNG, WebP) holds; 1 for a still picture,
    an array, or anything that cannot be read (reading it says why)."""
    if isinstance(source, Image.Image):
        if source.format not in ANIMATED_FORMATS:
            return 1
        return int(getattr(source, "n_frames", 1))
    if not isinstance(source, str | os.PathLike):
        return 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(Path(os.fspath(source)).expanduser()) as img:
                return frame_count(img)
    except Exception:
        return 1


def _open_path(path: Path, label: str, max_pixels: int) -> Image.Image:
    if not path.exists():
        raise InvalidImage(f"{label} not found: {path}")
    if path.is_dir():
        raise InvalidImage(f"{label} is a directory, not a file: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return _decode_file(path, label, max_pixels)
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = int(found.group(1)) if found else None
        if pixels is None or pixels > max_pixels:
            raise InvalidImage(_too_large(label, str(path), pixels, "", max_pixels)) from None
    with _PILLOW_LIMIT_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            return _decode_file(path, label, max_pixels)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _decode_file(path: Path, label: str, max_pixels: int) -> Image.Image:
    try:
        img = Image.open(path)
    except Image.DecompressionBombError:
        raise
    except Image.UnidentifiedImageError:
        raise InvalidImage(f"{label} is not a recognised image file: {path}") from None
    except FileNotFoundError:
        raise InvalidImage(f"{label} not found: {path}") from None
    except OSError as exc:
        raise InvalidImage(f"{label} cannot be read: {path} ({error_reason(exc)})") from None
    except Exception as exc:
        raise InvalidImage(f"{label} is not a valid image file: {path} "
                           f"({error_reason(exc)})") from None
    with img:
        _check_size(img.size, max_pixels, label, str(path))
        try:
            img.load()
        except Image.DecompressionBombError:
            raise
        except Exception as exc:
            raise InvalidImage(
                f"{label} is truncated or corrupt: {path} ({error_reason(exc)})"
            ) from None
        return _normalise(img)


def _from_array(arr: np.ndarray, label: str, max_pixels: int) -> Image.Image:
    where = f"(array of shape {arr.shape}, dtype {arr.dtype})"
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise InvalidImage(f"{label} must be an HxW, HxWx3 or HxWx4 array: {where}")
    _check_size((arr.shape[1], arr.shape[0]), max_pixels, label, where)
    if arr.dtype == np.uint8:
        a8 = arr
    elif arr.dtype == np.uint16:
        a8 = ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.floating):
        values = arr.astype(np.float64)
        if not np.isfinite(values).all() or values.min() < 0.0 or values.max() > 1.0:
            raise InvalidImage(f"{label} float values must be finite and in [0, 1]: {where}")
        a8 = np.rint(values * 255.0).astype(np.uint8)
    else:
        raise InvalidImage(f"{label} must be uint8, uint16 or float in [0, 1]: {where}")
    return _normalise(Image.fromarray(np.ascontiguousarray(a8)))


def _high_bit_to_l(img: Image.Image) -> Image.Image:
    """Scale a 16-bit, 32-bit integer or float greyscale image to 8-bit 'L'."""
    values = np.asarray(img).astype(np.float64)
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if img.mode.startswith("I;16") or (img.mode == "I" and lo >= 0 and hi <= 65535):
        scaled = values / 65535.0
    elif img.mode == "F" and lo >= 0 and hi <= 1:
        scaled = values
    else:
        scaled = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    return Image.fromarray(np.rint(np.clip(scaled, 0, 1) * 255).astype(np.uint8))


@functools.lru_cache(maxsize=1)
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _to_srgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    """Convert ``img`` (L, RGB or CMYK) from its ICC profile to sRGB; unchanged on failure."""
    if not icc or img.mode not in ("L", "RGB", "CMYK"):
        return img
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in ImageCms.getProfileDescription(profile).lower():
            return img
        converted = ImageCms.profileToProfile(img, profile, _srgb_profile(), outputMode="RGB")
    except Exception:
        return img
    return converted if converted is not None else img


def _normalise(img: Image.Image) -> Image.Image:
    """Orient, colour-manage and convert a loaded image to a new RGB or RGBA image."""
    icc = img.info.get("icc_profile")
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:
        img = img.copy()
    mode = img.mode
    alpha: Image.Image | None = None
    if mode.startswith("I") or mode == "F":
        base = _high_bit_to_l(img)
    elif mode in ALPHA_MODES or "transparency" in img.info:
        rgba = img.convert("RGBA")
        alpha = rgba.getchannel("A")
        base = rgba.convert("L") if mode in ("LA", "La") else rgba.convert("RGB")
    elif mode in ("L", "RGB", "CMYK"):
        base = img
    else:
        base = img.convert("RGB")
    base = _to_srgb(base, icc if isinstance(icc, bytes) else None)
    out = base if base.mode == "RGB" else base.convert("RGB")
    if alpha is not None:
        out.putalpha(alpha)
    for key in ("icc_profile", "exif", "transparency"):
        out.info.pop(key, None)
    return out


def split_alpha(img: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """Return (RGB composited over white, alpha as an 'L' image or None)."""
    if img.mode not in ALPHA_MODES and "transparency" not in img.info:
        return (img if img.mode == "RGB" else img.convert("RGB")), None
    rgba = img.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB"), rgba.getchannel("A")


# ------------------------------------------------------------------------------------- tensors


def with_alpha(image: Image.Image, alpha: Image.Image | None) -> tuple[Image.Image,
                                                                      Image.Image | None]:
    """``image`` with ``alpha`` (resized to it) as its alpha channel; (image, resized alpha)."""
    if alpha is None:
        return image, None
    alpha = alpha.resize(image.size, Image.Resampling.LANCZOS)
    image = image.copy()
    image.putalpha(alpha)
    return image, alpha


def rgb8_array(arr: np.ndarray, max_pixels: int, name: str = "image") -> np.ndarray | None:
    """An (H, W, 3) uint8 RGB array (a video frame) straight to (1, 3, H, W) float32 in
    [0, 1], as :func:`to_array` of :func:`open_image` would make it but without a PIL round
    trip; None for any other array (those go through :func:`open_image`)."""
    if not (arr.ndim == 3 and arr.shape[2] == 3 and arr.dtype == np.uint8):
        return None
    _check_size((arr.shape[1], arr.shape[0]), max_pixels, f"{name} image",
                f"(array of shape {arr.shape}, dtype {arr.dtype})")
    return _hwc8_array(arr)


def to_array(img: Image.Image) -> np.ndarray:
    """Float32 array (1, 3, H, W) in [0, 1]; alpha is composited over white."""
    rgb, _ = split_alpha(img)
    return _hwc8_array(np.asarray(rgb, dtype=np.uint8))


def to_tensor(img: Image.Image) -> torch.Tensor:
    """:func:`to_array` as a tensor."""
    import torch

    return torch.from_numpy(to_array(img))


def _hwc8_array(arr: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> a new (1, 3, H, W) float32 array in [0, 1]."""
    out = np.empty((1, 3, arr.shape[0], arr.shape[1]), dtype=np.float32)
    np.divide(arr.transpose(2, 0, 1), np.float32(255.0), out=out[0], dtype=np.float32)
    return out


def tensor_to_array(t: torch.Tensor | np.ndarray, bit_depth: int) -> np.ndarray:
    """(1,3,H,W) or (3,H,W) float picture in [0, 1] (a tensor or an array) -> HxWx3 uint8 or
    uint16 array.

    Converted in bands of rows, so a print-size picture needs no whole-picture temporaries
    beyond the result itself.
    """
    if t.ndim == 4 and t.shape[0] == 1:
        t = t[0]
    if t.ndim != 3 or t.shape[0] != 3:
        raise ValueError(f"expected a (1, 3, H, W) or (3, H, W) picture, got {tuple(t.shape)}")
    top = 255.0 if bit_depth == 8 else 65535.0
    height, width = t.shape[-2:]
    out = np.empty((height, width, 3), dtype=np.uint8 if bit_depth == 8 else np.uint16)
    band = max(1, (1 << 22) // max(width, 1))
    for y in range(0, height, band):
        rows = t[:, y:y + band]
        if not isinstance(rows, np.ndarray):
            rows = rows.detach().cpu().double().numpy()
        x = np.nan_to_num(rows.astype(np.float64), nan=0.0)
        np.clip(x, 0.0, 1.0, out=x)
        x *= top
        out[y:y + band] = np.round(x).transpose(1, 2, 0)
    return out


def to_pil(t: torch.Tensor | np.ndarray) -> Image.Image:
    """RGB image from a (1, 3, H, W) or (3, H, W) float picture in [0, 1] (clamped,
    rounded)."""
    return Image.fromarray(np.ascontiguousarray(tensor_to_array(t, 8)))
