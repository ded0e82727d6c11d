"""Tests for impasto.image.io (reading) and impasto.image.save (writing)."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np
import png
import pytest
import tifffile
import torch
from PIL import Image, ImageCms

from impasto.errors import InvalidImage, InvalidOption, OutputError
from impasto.image import save as image_save
from impasto.image.io import open_image, split_alpha, to_pil, to_tensor
from impasto.image.save import read_metadata, save_image


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ " + bytes(4) + _s15(x) + _s15(y) + _s15(z)


def _linear_rgb_profile() -> bytes:
    """A minimal ICC v2 RGB profile: sRGB primaries but a linear (gamma 1.0) tone curve."""
    text = b"linear test RGB\0"
    desc = b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(4 + 4 + 3 + 67)
    curve = b"curv" + bytes(4) + struct.pack(">IH", 1, 0x0100) + bytes(2)
    tags = [
        (b"desc", desc),
        (b"wtpt", _xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", _xyz(0.4361, 0.2225, 0.0139)),
        (b"gXYZ", _xyz(0.3851, 0.7169, 0.0971)),
        (b"bXYZ", _xyz(0.1431, 0.0606, 0.7141)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text" + bytes(4) + b"none\0"),
    ]
    start = 128 + 4 + 12 * len(tags)
    table, data = struct.pack(">I", len(tags)), b""
    for sig, body in tags:
        data += bytes(-(start + len(data)) % 4)
        table += sig + struct.pack(">II", start + len(data), len(body))
        data += body
    data += bytes(-(start + len(data)) % 4)
    header = (
        struct.pack(">I", start + len(data))
        + bytes(4)
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + bytes(12)
        + b"acsp"
        + bytes(28)
        + _s15(0.9642)
        + _s15(1.0)
        + _s15(0.8249)
        + bytes(48)
    )
    assert len(header) == 128
    return header + table + data


def _png(path: Path, img: Image.Image, **kwargs: object) -> Path:
    img.save(path, format="PNG", **kwargs)
    return path


# ----------------------------------------------------------------------------------- open_image


def test_exif_orientation_applied(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rot.jpg"
    Image.new("RGB", (20, 10), (200, 10, 10)).save(path, exif=exif)
    img = open_image(path)
    assert img.size == (10, 20)
    assert img.mode == "RGB"


def test_icc_profile_converted_to_srgb(tmp_path: Path) -> None:
    path = _png(
        tmp_path / "lin.png",
        Image.new("RGB", (4, 4), (128, 128, 128)),
        icc_profile=_linear_rgb_profile(),
    )
    r, g, b = open_image(path).getpixel((1, 1))
    assert all(abs(c - 188) <= 2 for c in (r, g, b))
    assert "icc_profile" not in open_image(path).info


def test_srgb_tagged_and_broken_profiles_load_unchanged(tmp_path: Path) -> None:
    pixels = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3) * 3
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for name, icc in (("srgb.png", srgb), ("bad.png", b"not an icc profile")):
        path = _png(tmp_path / name, Image.fromarray(pixels), icc_profile=icc)
        assert np.array_equal(np.asarray(open_image(path)), pixels)


def _palette_with_transparency() -> Image.Image:
    img = Image.new("P", (6, 4), 0)
    img.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    img.info["transparency"] = 0
    return img


@pytest.mark.parametrize(
    ("make", "fmt", "mode"),
    [
        (lambda: Image.new("L", (6, 4), 90), "PNG", "RGB"),
        (lambda: Image.new("LA", (6, 4), (90, 100)), "PNG", "RGBA"),
        (lambda: Image.new("P", (6, 4), 3), "PNG", "RGB"),
        (_palette_with_transparency, "PNG", "RGBA"),
        (lambda: Image.new("CMYK", (6, 4), (0, 255, 255, 0)), "TIFF", "RGB"),
        (lambda: Image.new("1", (6, 4), 1), "PNG", "RGB"),
        (lambda: Image.new("RGBA", (6, 4), (1, 2, 3, 100)), "PNG", "RGBA"),
        (lambda: Image.fromarray(np.full((4, 6), 40000, np.uint16)), "PNG", "RGB"),
    ],
)
def test_modes_become_rgb_or_rgba(tmp_path: Path, make, fmt: str, mode: str) -> None:
    path = tmp_path / f"in.{fmt.lower()}"
    make().save(path, format=fmt)
    img = open_image(path)
    assert (img.mode, img.size) == (mode, (6, 4))


def test_cmyk_red_is_red(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(path, quality=95)
    r, g, b = open_image(path).getpixel((4, 4))
    assert r > 200 and g < 60 and b < 60


def test_16bit_grey_scaled_not_clipped(tmp_path: Path) -> None:
    path = tmp_path / "g16.png"
    Image.fromarray(np.array([[0, 32896, 65535]], dtype=np.uint16)).save(path)
    values = np.asarray(open_image(path))[0, :, 0]
    assert values.tolist() == [0, 128, 255]
    floats = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32))
    assert np.asarray(open_image(floats))[0, :, 1].tolist() == [0, 128, 255]


def test_pil_input_is_copied() -> None:
    src = Image.new("RGB", (3, 2), (5, 6, 7))
    out = open_image(src)
    out.putpixel((0, 0), (0, 0, 0))
    assert src.getpixel((0, 0)) == (5, 6, 7)


@pytest.mark.parametrize(
    ("arr", "mode", "first"),
    [
        (np.full((4, 5), 7, np.uint8), "RGB", (7, 7, 7)),
        (np.full((4, 5, 3), 9, np.uint8), "RGB", (9, 9, 9)),
        (np.full((4, 5, 4), 9, np.uint8), "RGBA", (9, 9, 9, 9)),
        (np.full((4, 5, 3), 65535, np.uint16), "RGB", (255, 255, 255)),
        (np.full((4, 5, 3), 0.5, np.float32), "RGB", (128, 128, 128)),
        (np.full((4, 5), 1.0, np.float64), "RGB", (255, 255, 255)),
    ],
)
def test_numpy_inputs(arr: np.ndarray, mode: str, first: tuple[int, ...]) -> None:
    img = open_image(arr)
    assert (img.mode, img.size, img.getpixel((0, 0))) == (mode, (5, 4), first)


@pytest.mark.parametrize(
    "arr",
    [
        np.full((4, 5, 3), 1.5, np.float32),
        np.full((4, 5, 3), np.nan, np.float32),
        np.zeros((4, 5, 3), np.int32),
        np.zeros((4, 5, 3), bool),
        np.zeros((3, 4, 5), np.uint8),
        np.zeros((2, 3, 4, 5), np.uint8),
        np.zeros((0, 4, 3), np.uint8),
    ],
)
def test_bad_arrays_refused(arr: np.ndarray) -> None:
    with pytest.raises(InvalidImage) as info:
        open_image(arr, name="style 2")
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("style 2 image")


def _truncated_png(path: Path, size: int = 20) -> Path:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, "PNG")
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return path


def _empty_file(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _not_image(path: Path) -> Path:
    path.write_text("hello\nworld\n")
    return path


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        (lambda p: p / "missing.png", "content image not found"),
        (lambda p: p, "directory"),
        (lambda p: _not_image(p / "text.png"), "not a recognised image"),
        (lambda p: _truncated_png(p / "cut.png"), "truncated"),
        (lambda p: _empty_file(p / "empty.png"), "not a recognised image"),
    ],
)
def test_file_errors_are_one_line(tmp_path: Path, setup, words: str) -> None:
    path = setup(tmp_path)
    with pytest.raises(InvalidImage) as info:
        open_image(path, name="content")
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    assert words in message


def test_oversize_refused_before_decoding(tmp_path: Path) -> None:
    path = _truncated_png(tmp_path / "big.png")
    with pytest.raises(InvalidImage) as info:
        open_image(path, max_pixels=100)
    message = str(info.value)
    assert "too large" in message and "400" in message and "100" in message
    assert "max_pixels" in message and str(path) in message and "\n" not in message
    with pytest.raises(InvalidImage):
        open_image(Image.new("RGB", (20, 20)), max_pixels=100)


def test_pillow_bomb_limit_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _png(tmp_path / "bomb.png", Image.new("RGB", (20, 20)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)
    with pytest.raises(InvalidImage) as info:
        open_image(path, max_pixels=150)
    assert "too large" in str(info.value) and "max_pixels" in str(info.value)
    assert open_image(path, max_pixels=1000).size == (20, 20)
    assert Image.MAX_IMAGE_PIXELS == 50


# -------------------------------------------------------------------------- alpha and tensors


def test_split_alpha_composites_over_white() -> None:
    img = Image.new("RGBA", (2, 2), (0, 0, 0, 0))
    img.putpixel((1, 1), (0, 0, 0, 255))
    rgb, alpha = split_alpha(img)
    assert rgb.mode == "RGB" and alpha is not None and alpha.mode == "L"
    assert rgb.getpixel((0, 0)) == (255, 255, 255) and rgb.getpixel((1, 1)) == (0, 0, 0)
    assert split_alpha(Image.new("RGB", (2, 2)))[1] is None


def test_tensor_round_trip() -> None:
    arr = np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    t = to_tensor(Image.fromarray(arr))
    assert t.shape == (1, 3, 5, 7) and t.dtype == torch.float32
    assert float(t.min()) >= 0 and float(t.max()) <= 1
    assert np.array_equal(np.asarray(to_pil(t)), arr)
    assert np.array_equal(
        np.asarray(to_pil(t[0].to(torch.bfloat16))),
        np.asarray(to_pil(t[0].to(torch.bfloat16).float())),
    )


def test_to_pil_clamps_without_modifying_input() -> None:
    t = torch.tensor([[[-0.5, 0.5, 1.5]]]).expand(3, 1, 3).clone().requires_grad_()
    before = t.detach().clone()
    img = to_pil(t)
    assert np.asarray(img)[0, :, 0].tolist() == [0, 128, 255]
    assert torch.equal(t.detach(), before)


# ---------------------------------------------------------------------------------- save_image

META = {"impasto": json.dumps({"steps": 3, "style": "Ünïcode ✓"}), "note": "a\nb"}


@pytest.mark.parametrize("name", ["out.png", "out.jpg", "out.jpeg", "out.webp", "out.tif"])
def test_metadata_round_trip(tmp_path: Path, name: str) -> None:
    t = torch.rand(1, 3, 6, 5, generator=torch.Generator().manual_seed(0))
    path = save_image(t, tmp_path / "sub" / name, metadata=META)
    assert path == tmp_path / "sub" / name and path.is_file()
    assert read_metadata(path) == META
    assert open_image(path).size == (5, 6)
    assert not list(path.parent.glob("*.part")) and not list(path.parent.glob(".*"))


def test_no_metadata_reads_empty(tmp_path: Path) -> None:
    for name in ("a.png", "a.jpg", "a.tiff"):
        assert read_metadata(save_image(torch.zeros(3, 2, 2), tmp_path / name)) == {}


@pytest.mark.parametrize("alpha", [False, True])
def test_png16_keeps_full_precision(tmp_path: Path, alpha: bool) -> None:
    t = torch.rand(1, 3, 4, 6, generator=torch.Generator().manual_seed(2))
    mask = Image.new("L", (6, 4), 100) if alpha else None
    path = save_image(t, tmp_path / "deep.png", metadata=META, bit_depth=16, alpha=mask)
    width, height, rows, info = png.Reader(filename=str(path)).read()
    assert (width, height, info["bitdepth"], info["alpha"]) == (6, 4, 16, alpha)
    got = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows]).reshape(4, 6, -1)
    want = np.round(t[0].permute(1, 2, 0).double().numpy() * 65535).astype(np.uint16)
    assert np.array_equal(got[..., :3], want)
    if alpha:
        assert (got[..., 3] == 100 * 257).all()
    assert read_metadata(path) == META


def test_tiff16_keeps_full_precision(tmp_path: Path) -> None:
    t = torch.rand(1, 3, 4, 6, generator=torch.Generator().manual_seed(3))
    path = save_image(t, tmp_path / "deep.tiff", metadata=META, bit_depth=16)
    got = tifffile.imread(path)
    want = np.round(t[0].permute(1, 2, 0).double().numpy() * 65535).astype(np.uint16)
    assert got.dtype == np.uint16 and np.array_equal(got, want)
    assert read_metadata(path) == META


def test_alpha_carried_to_png_not_jpeg(tmp_path: Path) -> None:
    mask = Image.new("L", (3, 2), 0)
    mask.putpixel((0, 0), 255)
    t = torch.full((1, 3, 4, 6), 0.25)
    png_img = Image.open(save_image(t, tmp_path / "a.png", alpha=mask))
    assert png_img.mode == "RGBA" and png_img.size == (6, 4)
    assert png_img.getchannel("A").getpixel((0, 0)) > 200
    assert png_img.getchannel("A").getpixel((5, 3)) < 50
    for name in ("a.webp", "a.tif"):
        assert open_image(save_image(t, tmp_path / name, alpha=mask)).mode == "RGBA"
    assert Image.open(save_image(t, tmp_path / "a.jpg", alpha=mask)).mode == "RGB"


def test_rgba_pil_saved(tmp_path: Path) -> None:
    img = Image.new("RGBA", (3, 3), (10, 20, 30, 40))
    assert Image.open(save_image(img, tmp_path / "p.png")).getpixel((1, 1)) == (10, 20, 30, 40)
    jpg = Image.open(save_image(img, tmp_path / "p.jpg"))
    assert jpg.mode == "RGB" and min(jpg.getpixel((1, 1))) > 150


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("x.gif", {}),
        ("noext", {}),
        ("x.jpg", {"bit_depth": 16}),
        ("x.png", {"bit_depth": 12}),
        ("x.jpg", {"quality": 0}),
        ("x.png", {"metadata": {"": "v"}}),
    ],
)
def test_bad_options(tmp_path: Path, name: str, kwargs: dict) -> None:
    with pytest.raises(InvalidOption) as info:
        save_image(torch.zeros(1, 3, 2, 2), tmp_path / name, **kwargs)
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_unknown_extension_lists_supported(tmp_path: Path) -> None:
    with pytest.raises(InvalidOption, match=r"\.png.*\.webp"):
        save_image(torch.zeros(1, 3, 2, 2), tmp_path / "x.bmp")


def test_unwritable_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(OutputError) as info:
        save_image(torch.zeros(1, 3, 2, 2), blocker / "sub" / "out.png")
    assert "\n" not in str(info.value) and str(blocker) in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]
    assert blocker.read_text() == "x"


def test_failed_write_leaves_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.tif"
    target.write_bytes(b"old")

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(image_save.tifffile, "imwrite", boom)
    with pytest.raises(OutputError, match="No space left"):
        save_image(torch.zeros(1, 3, 2, 2), target)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]


def test_read_metadata_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidImage):
        read_metadata(tmp_path / "nothing.png")
    with pytest.raises(InvalidImage) as info:
        read_metadata(_not_image(tmp_path / "x.jpg"))
    assert "\n" not in str(info.value)
