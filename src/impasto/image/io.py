"""Reading and writing pictures.

Inputs (paths, PIL images or numpy arrays) become fully loaded RGB or RGBA PIL images: the EXIF
orientation is applied, an embedded ICC profile is converted to sRGB (ignored if that fails),
and greyscale, palette, CMYK, 1-bit and 16/32-bit greyscale pictures are converted to 8-bit RGB.

Alpha policy: a picture with an alpha channel is composited over white to give the RGB that is
stylised (:func:`split_alpha`), and its alpha channel is carried through to the output when the
output format supports it (PNG, WebP, TIFF). JPEG output gets no alpha.

Outputs are written atomically: to a hidden ``.part`` file in the target folder, then renamed.
Metadata (a ``dict[str, str]``) is stored as PNG text chunks, as the JSON of the whole dict in
the EXIF ImageDescription of JPEG and WebP files, and in the TIFF ImageDescription tag;
:func:`read_metadata` reads it back.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import re
import secrets
import threading
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeAlias

import numpy as np
import png
import tifffile
import torch
from PIL import Image, ImageCms, ImageOps, PngImagePlugin

from impasto.errors import InvalidImage, InvalidOption, OutputError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "SUPPORTED_OUTPUTS",
    "ImageSource",
    "check_output_path",
    "open_image",
    "read_metadata",
    "save_image",
    "split_alpha",
    "to_pil",
    "to_tensor",
]

DEFAULT_MAX_PIXELS = 100_000_000
"""Largest picture, in pixels, that :func:`open_image` decodes unless told otherwise."""

ImageSource: TypeAlias = str | os.PathLike[str] | Image.Image | np.ndarray

SUPPORTED_OUTPUTS = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff"}

_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
_ALPHA_FORMATS = {"PNG", "WEBP", "TIFF"}
_EXIF_DESCRIPTION = 0x010E
_JPEG_EXIF_LIMIT = 65_000
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TIFF_SIGNATURES = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")

# Pillow's own decompression-bomb limit is a module global; it is lifted (under this lock) only
# when the caller's max_pixels is above it.
_PILLOW_LIMIT_LOCK = threading.Lock()


# --------------------------------------------------------------------------------------- reading


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
            raise InvalidImage(f"{label} cannot be decoded: {_reason(exc)}") from None
        return _normalise(source)
    if isinstance(source, np.ndarray):
        return _from_array(source, label, max_pixels)
    if isinstance(source, (str, os.PathLike)):
        return _open_path(Path(os.fspath(source)).expanduser(), label, max_pixels)
    raise InvalidImage(f"{label}: unsupported source of type {type(source).__name__}")


def _reason(exc: BaseException) -> str:
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
        raise InvalidImage(f"{label} cannot be read: {path} ({_reason(exc)})") from None
    except Exception as exc:
        raise InvalidImage(f"{label} is not a valid image file: {path} ({_reason(exc)})") from None
    with img:
        _check_size(img.size, max_pixels, label, str(path))
        try:
            img.load()
        except Image.DecompressionBombError:
            raise
        except Exception as exc:
            raise InvalidImage(
                f"{label} is truncated or corrupt: {path} ({_reason(exc)})"
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
    elif mode in _ALPHA_MODES or "transparency" in img.info:
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
    if img.mode not in _ALPHA_MODES and "transparency" not in img.info:
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


def to_tensor(img: Image.Image) -> torch.Tensor:
    """Float32 tensor (1, 3, H, W) in [0, 1]; alpha is composited over white."""
    rgb, _ = split_alpha(img)
    arr = np.array(rgb, dtype=np.uint8)
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).float().div_(255.0).contiguous()


def _tensor_to_array(t: torch.Tensor, bit_depth: int) -> np.ndarray:
    """(1,3,H,W) or (3,H,W) float tensor in [0, 1] -> HxWx3 uint8 or uint16 array.

    Converted in bands of rows, so a print-size picture needs no whole-picture temporaries
    beyond the result itself.
    """
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 3 or t.shape[0] != 3:
        raise ValueError(f"expected a (1, 3, H, W) or (3, H, W) tensor, got {tuple(t.shape)}")
    top = 255.0 if bit_depth == 8 else 65535.0
    height, width = t.shape[-2:]
    out = np.empty((height, width, 3), dtype=np.uint8 if bit_depth == 8 else np.uint16)
    band = max(1, (1 << 22) // max(width, 1))
    for y in range(0, height, band):
        x = t[:, y:y + band].detach().cpu().double()
        x = torch.nan_to_num(x, nan=0.0).clamp_(0.0, 1.0).mul_(top).round_()
        out[y:y + band] = x.permute(1, 2, 0).numpy()
    return out


def to_pil(t: torch.Tensor) -> Image.Image:
    """RGB image from a (1, 3, H, W) or (3, H, W) float tensor in [0, 1] (clamped, rounded)."""
    return Image.fromarray(np.ascontiguousarray(_tensor_to_array(t, 8)))


# --------------------------------------------------------------------------------------- writing


def _output_format(path: Path) -> str:
    ext = path.suffix.lower()
    if ext not in _FORMATS:
        wanted = ", ".join(sorted(SUPPORTED_OUTPUTS))
        got = f"'{ext}'" if ext else "no extension"
        raise InvalidOption(f"unsupported output format ({got}) for {path}; use one of {wanted}")
    return _FORMATS[ext]


def _check_metadata(metadata: dict[str, str] | None, fmt: str) -> dict[str, str]:
    items = dict(metadata or {})
    for key, value in items.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidOption(f"metadata keys and values must be strings, got {key!r}")
        if fmt == "PNG":
            try:
                raw = key.encode("latin-1")
            except UnicodeEncodeError:
                raw = b""
            if not 1 <= len(raw) <= 79 or b"\0" in raw:
                raise InvalidOption(f"metadata key {key!r} is not a valid PNG text keyword")
    if fmt == "JPEG" and len(_metadata_json(items)) > _JPEG_EXIF_LIMIT:
        raise InvalidOption("metadata is too large for the EXIF block of a JPEG file")
    return items


def _metadata_json(metadata: dict[str, str]) -> str:
    return json.dumps(metadata, ensure_ascii=True, separators=(",", ":"))


def _pixels(
    image: torch.Tensor | Image.Image, alpha: Image.Image | None, fmt: str, bit_depth: int
) -> np.ndarray:
    """HxWx3 or HxWx4 array of the output's dtype (alpha attached when the format allows)."""
    if isinstance(image, torch.Tensor):
        rgb = _tensor_to_array(image, bit_depth)
    else:
        if fmt in _ALPHA_FORMATS:
            if alpha is None and (image.mode in _ALPHA_MODES or "transparency" in image.info):
                alpha = image.convert("RGBA").getchannel("A")
            base = image if image.mode == "RGB" else image.convert("RGBA").convert("RGB")
        else:
            base, _ = split_alpha(image)
        rgb = np.array(base, dtype=np.uint8)
        if bit_depth == 16:
            rgb = rgb.astype(np.uint16) * 257
    if alpha is None or fmt not in _ALPHA_FORMATS:
        return np.ascontiguousarray(rgb)
    height, width = rgb.shape[:2]
    mask = alpha.convert("L")
    if mask.size != (width, height):
        mask = mask.resize((width, height), Image.Resampling.BICUBIC)
    a = np.array(mask, dtype=np.uint8)
    if bit_depth == 16:
        a = a.astype(np.uint16) * 257
    return np.ascontiguousarray(np.dstack([rgb, a]))


def _itxt(key: str, value: str) -> bytes:
    return key.encode("latin-1") + b"\0\0\0\0\0" + value.encode("utf-8")


def _write_png16(fh: IO[bytes], arr: np.ndarray, metadata: dict[str, str]) -> None:
    height, width, channels = arr.shape
    writer = png.Writer(width, height, greyscale=False, alpha=channels == 4, bitdepth=16)
    rows = arr.astype(">u2").reshape(height, width * channels)
    buffer = io.BytesIO()
    writer.write_packed(buffer, (row.tobytes() for row in rows))
    chunks = list(png.Reader(bytes=buffer.getvalue()).chunks())
    text = [(b"iTXt", _itxt(k, v)) for k, v in metadata.items()]
    png.write_chunks(fh, chunks[:1] + text + chunks[1:])


def _writer(
    fmt: str, arr: np.ndarray, metadata: dict[str, str], bit_depth: int, quality: int
) -> Callable[[IO[bytes]], None]:
    description = _metadata_json(metadata) if metadata else None

    def write(fh: IO[bytes]) -> None:
        if fmt == "TIFF":
            tifffile.imwrite(
                fh,
                arr,
                photometric="rgb",
                extrasamples=("unassalpha",) if arr.shape[2] == 4 else None,
                description=description,
                metadata=None,
                software="impasto",
                compression="zlib",
            )
        elif fmt == "PNG" and bit_depth == 16:
            _write_png16(fh, arr, metadata)
        elif fmt == "PNG":
            info = PngImagePlugin.PngInfo()
            for key, value in metadata.items():
                info.add_itxt(key, value)
            Image.fromarray(arr).save(fh, format="PNG", pnginfo=info)
        else:
            options: dict[str, object] = {"quality": quality}
            if description is not None:
                exif = Image.Exif()
                exif[_EXIF_DESCRIPTION] = description
                options["exif"] = exif.tobytes()
            if fmt == "JPEG" and quality >= 90:
                options["subsampling"] = 0
            Image.fromarray(arr).save(fh, format=fmt, **options)

    return write


def _open_temp(target: Path) -> tuple[Path, IO[bytes]]:
    """Create the target's folder and an exclusive hidden temporary file beside the target."""
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {folder}: {_reason(exc)}") from None
    if target.is_dir():
        raise OutputError(f"output path is a directory: {target}")
    temp = folder / f".{target.name}.{secrets.token_hex(4)}.part"
    try:
        fh = open(temp, "xb")  # noqa: SIM115 - the caller closes it
    except OSError as exc:
        raise OutputError(f"cannot write to output folder {folder}: {_reason(exc)}") from None
    return temp, fh


def check_output_path(path: str | os.PathLike[str], *, bit_depth: int = 8) -> Path:
    """Check, before a long run, that ``path`` can be written: format, bit depth, folder.

    Creates the folder if missing and proves it writable with a temporary file (removed again).
    """
    target = Path(os.fspath(path)).expanduser()
    fmt = _output_format(target)
    if bit_depth not in (8, 16):
        raise InvalidOption(f"bit-depth must be 8 or 16, not {bit_depth}")
    if bit_depth == 16 and fmt not in ("PNG", "TIFF"):
        raise InvalidOption(f"16-bit output needs .png or .tif, not {target.suffix}")
    temp, fh = _open_temp(target)
    fh.close()
    with contextlib.suppress(OSError):
        temp.unlink()
    return target


def _atomic_write(target: Path, write: Callable[[IO[bytes]], None]) -> None:
    temp, fh = _open_temp(target)
    done = False
    try:
        with fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, target)
        done = True
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {_reason(exc)}") from None
    finally:
        if not done:
            with contextlib.suppress(OSError):
                temp.unlink()


def save_image(
    image: torch.Tensor | Image.Image,
    path: str | os.PathLike[str],
    *,
    metadata: dict[str, str] | None = None,
    alpha: Image.Image | None = None,
    bit_depth: int = 8,
    quality: int = 95,
) -> Path:
    """Write ``image`` atomically in the format given by the extension; return the path."""
    target = Path(os.fspath(path)).expanduser()
    fmt = _output_format(target)
    if bit_depth not in (8, 16):
        raise InvalidOption(f"bit depth must be 8 or 16, got {bit_depth}")
    if bit_depth == 16 and fmt not in ("PNG", "TIFF"):
        raise InvalidOption(f"16-bit output needs a .png or .tif/.tiff file, not {target.name}")
    if not 1 <= quality <= 100:
        raise InvalidOption(f"quality must be between 1 and 100, got {quality}")
    items = _check_metadata(metadata, fmt)
    arr = _pixels(image, alpha, fmt, bit_depth)
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidOption(f"cannot save an empty image to {target}")
    _atomic_write(target, _writer(fmt, arr, items, bit_depth, quality))
    return target


# ------------------------------------------------------------------------------------ metadata


def _from_description(description: str | None) -> dict[str, str]:
    if not description:
        return {}
    try:
        data = json.loads(description)
    except ValueError:
        data = None
    if isinstance(data, dict) and all(isinstance(v, str) for v in data.values()):
        return {str(k): v for k, v in data.items()}
    return {"ImageDescription": description}


def _read_png_text(fh: IO[bytes]) -> dict[str, str]:
    out: dict[str, str] = {}
    for kind, data in png.Reader(file=fh).chunks():
        if kind not in (b"tEXt", b"zTXt", b"iTXt"):
            continue
        raw_key, _, rest = data.partition(b"\0")
        key = raw_key.decode("latin-1")
        if kind == b"tEXt":
            out[key] = rest.decode("latin-1")
        elif kind == b"zTXt":
            out[key] = zlib.decompress(rest[1:]).decode("latin-1")
        else:
            compressed, rest = rest[0], rest[2:]
            _lang, _, rest = rest.partition(b"\0")
            _tkey, _, text = rest.partition(b"\0")
            out[key] = (zlib.decompress(text) if compressed else text).decode("utf-8")
    return out


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read back the metadata that :func:`save_image` stores, for every output format."""
    source = Path(os.fspath(path)).expanduser()
    if not source.is_file():
        raise InvalidImage(f"image not found: {source}")
    try:
        with source.open("rb") as fh:
            head = fh.read(8)
            fh.seek(0)
            if head == _PNG_SIGNATURE:
                return _read_png_text(fh)
            if head[:4] in _TIFF_SIGNATURES:
                with tifffile.TiffFile(fh) as tif:
                    return _from_description(tif.pages[0].description)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(fh) as img:
                    value = img.getexif().get(_EXIF_DESCRIPTION)
    except Exception as exc:
        raise InvalidImage(f"cannot read metadata of {source}: {_reason(exc)}") from None
    return _from_description(value if isinstance(value, str) else None)
