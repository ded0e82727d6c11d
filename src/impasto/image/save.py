"""Writing pictures with their metadata, and reading that metadata back.

Outputs are written atomically: to a hidden ``.part`` file in the target folder, then renamed
(a failed write leaves nothing). Metadata (a ``dict[str, str]``) is stored as PNG text chunks,
as the JSON of the whole dict in the EXIF ImageDescription of JPEG and WebP files, and in the
TIFF ImageDescription tag; :func:`read_metadata` reads it back.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np
import png
import tifffile
from PIL import Image, PngImagePlugin

from impasto.errors import InvalidImage, InvalidOption, OutputError
from impasto.image.io import ALPHA_MODES, error_reason, split_alpha, tensor_to_array

if TYPE_CHECKING:
    import torch

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
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TIFF_SIGNATURES = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")

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


def _pixels(image: torch.Tensor | np.ndarray | Image.Image, alpha: Image.Image | None,
            fmt: str, bit_depth: int) -> np.ndarray:
    """HxWx3 or HxWx4 array of the output's dtype (alpha attached when the format allows)."""
    if not isinstance(image, Image.Image):  # a (1, 3, H, W) tensor or array in [0, 1]
        rgb = tensor_to_array(image, bit_depth)
    else:
        if fmt in _ALPHA_FORMATS:
            if alpha is None and (image.mode in ALPHA_MODES or "transparency" in image.info):
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


#: zlib level of 8-bit PNGs: 1, as OpenCV's imwrite, writes a 512 px picture about three times
#: faster than PIL's default 6 for files about a seventh larger (measured in
#: docs/benchmarks.md "Backends"); PNG stays lossless at every level.
PNG_COMPRESS_LEVEL = 1


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
            Image.fromarray(arr).save(fh, format="PNG", pnginfo=info,
                                      compress_level=PNG_COMPRESS_LEVEL)
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
        raise OutputError(f"cannot create output folder {folder}: {error_reason(exc)}") from None
    if target.is_dir():
        raise OutputError(f"output path is a directory: {target}")
    temp = folder / f".{target.name}.{secrets.token_hex(4)}.part"
    try:
        fh = open(temp, "xb")  # noqa: SIM115 - the caller closes it
    except OSError as exc:
        raise OutputError(f"cannot write to output folder {folder}: {error_reason(exc)}") from None
    return temp, fh


def _target(path: str | os.PathLike[str], bit_depth: int) -> tuple[Path, str]:
    """The output path and its format, with the bit depth checked against the format."""
    target = Path(os.fspath(path)).expanduser()
    if target.is_dir():
        raise OutputError(f"the output {target} is a folder: give a picture's file name "
                          f"(e.g. {target / 'out.png'})")
    fmt = _output_format(target)
    if bit_depth not in (8, 16):
        raise InvalidOption(f"bit-depth must be 8 or 16, not {bit_depth}")
    if bit_depth == 16 and fmt not in ("PNG", "TIFF"):
        raise InvalidOption(f"16-bit output needs a .png or .tif/.tiff file, not {target.name}")
    return target, fmt


def check_output_path(path: str | os.PathLike[str], *, bit_depth: int = 8) -> Path:
    """Check, before a long run, that ``path`` can be written: format, bit depth, folder.

    Creates the folder if missing and proves it writable with a temporary file (removed again).
    """
    target, _ = _target(path, bit_depth)
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
        # A full disk, a quota, a removed drive: the hidden temporary file goes (below), so
        # nothing half-written is left, and a picture already at ``target`` is untouched.
        raise OutputError(f"cannot write {target}: {error_reason(exc)}; nothing was "
                          f"written") from None
    finally:
        if not done:
            with contextlib.suppress(OSError):
                temp.unlink()


def write_bytes_atomically(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` as :func:`save_image` writes a picture: through a hidden
    temporary file beside it, synced and renamed (a failure leaves nothing)."""
    target = Path(os.fspath(path))
    _atomic_write(target, lambda fh: fh.write(data))
    return target


def save_image(
    image: torch.Tensor | np.ndarray | Image.Image,
    path: str | os.PathLike[str],
    *,
    metadata: dict[str, str] | None = None,
    alpha: Image.Image | None = None,
    bit_depth: int = 8,
    quality: int = 95,
    sign: Callable[[bytes, Path], bytes] | None = None,
) -> Path:
    """Write ``image`` atomically in the format given by the extension; return the path.
    ``sign`` turns the whole file's bytes into the bytes written (a signed manifest added:
    :mod:`impasto.provenance.signing`); whatever it raises leaves nothing behind."""
    target, fmt = _target(path, bit_depth)
    if not 1 <= quality <= 100:
        raise InvalidOption(f"quality must be between 1 and 100, got {quality}")
    items = _check_metadata(metadata, fmt)
    arr = _pixels(image, alpha, fmt, bit_depth)
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidOption(f"cannot save an empty image to {target}")
    write = _writer(fmt, arr, items, bit_depth, quality)
    if sign is not None:
        buffer = io.BytesIO()
        write(buffer)
        write_bytes_atomically(target, sign(buffer.getvalue(), target))
    else:
        _atomic_write(target, write)
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
        raise InvalidImage(f"cannot read metadata of {source}: {error_reason(exc)}") from None
    return _from_description(value if isinstance(value, str) else None)
