"""Mask pictures, mask options, mask resampling and face masks (spatial control)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from impasto.errors import InvalidImage, InvalidOption
from impasto.image.faces import detect_faces, face_mask
from impasto.image.masks import (
    downsample_mask,
    layer_masks,
    load_mask,
    normalise_region_masks,
    parse_mask_spec,
    parse_protect_spec,
)


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(exc.value)
    assert "\n" not in text and text.strip() == text
    return text


@pytest.fixture
def ramp() -> np.ndarray:
    """A 16x32 (h x w) uint8 horizontal ramp."""
    return np.tile(np.linspace(0, 255, 32).round().astype(np.uint8), (16, 1))


# ------------------------------------------------------------------------------- load_mask


def test_load_grey_png(tmp_path: Path, ramp: np.ndarray) -> None:
    path = tmp_path / "m.png"
    Image.fromarray(ramp, "L").save(path)
    mask = load_mask(path, size=None, name="mask")
    assert mask.shape == (1, 1, 16, 32) and mask.dtype == torch.float32
    assert mask[0, 0, 0, 0] == 0.0 and mask[0, 0, 0, -1] == 1.0
    assert torch.allclose(mask[0, 0], torch.from_numpy(ramp).float() / 255)


def test_load_modes_and_sources(ramp: np.ndarray) -> None:
    expected = torch.from_numpy(ramp).float() / 255
    grey = Image.fromarray(ramp)
    rgb_grey = Image.merge("RGB", [grey] * 3)
    la = Image.merge("LA", [grey, Image.new("L", grey.size, 40)])
    assert (grey.mode, rgb_grey.mode, la.mode) == ("L", "RGB", "LA")
    for source in (ramp, rgb_grey, la):
        assert torch.allclose(load_mask(source, size=(16, 32), name="mask")[0, 0], expected)
    one = Image.fromarray(ramp > 127).convert("1")
    assert set(load_mask(one, size=None, name="mask").unique().tolist()) == {0.0, 1.0}
    wide = Image.fromarray(ramp.astype(np.uint16) * 257)
    assert wide.mode == "I;16"
    assert torch.allclose(load_mask(wide, size=None, name="mask")[0, 0], expected, atol=1 / 255)


def test_colour_mask_rejected(tmp_path: Path, ramp: np.ndarray) -> None:
    path = tmp_path / "colour.png"
    Image.fromarray(np.dstack([ramp, ramp // 2, 255 - ramp]), "RGB").save(path)
    with pytest.raises(InvalidImage) as exc:
        load_mask(path, size=None, name="mask")
    assert _one_line(exc) == f"mask {path} is not greyscale"


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    with pytest.raises(InvalidImage) as exc:
        load_mask(missing, size=(8, 8), name="mask")
    assert str(missing) in _one_line(exc)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a picture")
    with pytest.raises(InvalidImage) as exc:
        load_mask(junk, size=(8, 8), name="mask")
    assert str(junk) in _one_line(exc)


def test_wrong_size_rejected(tmp_path: Path) -> None:
    path = tmp_path / "m.png"
    Image.new("L", (100, 50), 255).save(path)
    with pytest.raises(InvalidImage) as exc:
        load_mask(path, size=(64, 64), name="mask")
    assert _one_line(exc) == f"mask {path} is 100x50 but the content is 64x64"


def test_same_aspect_resized() -> None:
    mask = np.zeros((32, 64), np.uint8)
    mask[:, 32:] = 255
    out = load_mask(mask, size=(16, 32), name="mask")
    assert out.shape == (1, 1, 16, 32)
    assert torch.all(out[..., :15] == 0) and torch.all(out[..., 17:] == 1)
    # aspect ratios 1 % apart are resized; 3 % apart are refused
    near = load_mask(np.zeros((100, 200), np.uint8), size=(50, 101), name="mask")
    assert near.shape == (1, 1, 50, 101)
    with pytest.raises(InvalidImage):
        load_mask(mask, size=(32, 66), name="mask")


# ----------------------------------------------------------------------------------- specs


def test_parse_mask_spec() -> None:
    assert parse_mask_spec("sky.png=2") == ("sky.png", 2)
    assert parse_mask_spec("a=b.png=1") == ("a=b.png", 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x.png", "--mask x.png: expected MASK=N"),
        ("x.png=two", "--mask x.png=two: 'two' is not a style image number"),
        ("x.png=1.5", "--mask x.png=1.5: '1.5' is not a style image number"),
        ("=1", "--mask =1: expected MASK=N"),
    ],
)
def test_parse_mask_spec_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidOption) as exc:
        parse_mask_spec(text)
    assert _one_line(exc).startswith(message)


@pytest.mark.parametrize(("number", "n", "message"), [
    (3, 2, "a mask names style 3; there are 2 style pictures"),
    (2, 1, "a mask names style 2; there is 1 style picture"),
    (0, 2, "a mask names style 0; there are 2 style pictures"),
])
def test_the_mask_style_number_rule(number: int, n: int, message: str) -> None:
    """One rule for the style a mask names, whatever the front end or method."""
    from impasto.config.checks import check_style_number

    with pytest.raises(InvalidOption) as exc:
        check_style_number(number, n)
    assert _one_line(exc) == message


def test_parse_protect_spec(tmp_path: Path) -> None:
    assert parse_protect_spec("face.png", 4.0) == ("face.png", 4.0)
    assert parse_protect_spec("face.png=2.5", 4.0) == ("face.png", 2.5)
    odd = tmp_path / "a=b.png"
    odd.touch()
    assert parse_protect_spec(str(odd), 3.0) == (str(odd), 3.0)


@pytest.mark.parametrize("text", ["f.png=0", "f.png=-1", "f.png=nan", "f.png=inf", "f.png=x",
                                  "f.png=", "=2"])
def test_parse_protect_spec_errors(text: str) -> None:
    with pytest.raises(InvalidOption) as exc:
        parse_protect_spec(text, 4.0)
    assert _one_line(exc).startswith(f"--protect {text}:")


# ------------------------------------------------------------------------------ resampling


def test_downsample_keeps_mean() -> None:
    mask = torch.rand(1, 1, 32, 48, generator=torch.Generator().manual_seed(0))
    for size in [(16, 24), (8, 12), (4, 6), (2, 3)]:
        small = downsample_mask(mask, size)
        assert small.shape == (1, 1, *size)
        assert torch.allclose(small.mean(), mask.mean(), atol=1e-6)
    assert downsample_mask(mask, (32, 48)) is mask
    assert downsample_mask(mask, (10, 10)).shape == (1, 1, 10, 10)  # not a pooling size


def test_downsample_follows_ceil_mode_pooling() -> None:
    mask = torch.zeros(1, 1, 5, 5)
    mask[..., 4] = 1.0  # last column: VGG's ceil-mode pooling gives it a window of its own
    out = downsample_mask(mask, (3, 3))
    assert torch.equal(out[0, 0, :, 2], torch.ones(3)) and torch.all(out[0, 0, :, :2] == 0)


def test_layer_masks() -> None:
    mask = torch.ones(1, 1, 20, 30)
    sizes = {"relu1_1": (20, 30), "relu2_1": (10, 15), "conv2_1": (10, 15), "relu3_1": (5, 8)}
    out = layer_masks(mask, sizes)
    assert {k: tuple(v.shape[-2:]) for k, v in out.items()} == sizes
    assert out["relu2_1"] is out["conv2_1"]
    assert all(torch.allclose(v, torch.ones_like(v)) for v in out.values())


def test_normalise_region_masks() -> None:
    a = torch.tensor([[[[1.0, 1.0, 0.5, 0.0]]]])
    b = torch.tensor([[[[0.0, 1.0, 0.25, 0.0]]]])
    na, nb = normalise_region_masks([a, b])
    assert torch.allclose(na, torch.tensor([[[[1.0, 0.5, 0.5, 0.0]]]]))
    assert torch.allclose(nb, torch.tensor([[[[0.0, 0.5, 0.25, 0.0]]]]))
    assert normalise_region_masks([]) == []
    with pytest.raises(ValueError):
        normalise_region_masks([a, torch.ones(1, 1, 2, 2)])


# ----------------------------------------------------------------------------------- faces


@pytest.fixture(scope="module")
def astronaut() -> torch.Tensor:
    from skimage import data

    return torch.from_numpy(data.astronaut()).permute(2, 0, 1)[None].float() / 255


def test_detect_faces_astronaut(astronaut: torch.Tensor) -> None:
    boxes = detect_faces(astronaut)
    assert len(boxes) == 1
    x, y, w, h = boxes[0]
    assert x >= 140 and x + w <= 290 and y >= 50 and y + h <= 210
    assert 50 <= w <= 140 and 50 <= h <= 140
    mask = face_mask(astronaut)
    assert mask.shape == (1, 1, 512, 512)
    assert mask[0, 0, y + h // 2, x + w // 2] == 1.0
    assert mask[0, 0, 90:140, 195:245].min() > 0.99
    assert mask[0, 0, 400:, :100].max() == 0.0
    assert float(mask.min()) >= 0.0 and float(mask.max()) <= 1.0


def test_detect_faces_downscales(astronaut: torch.Tensor) -> None:
    big = torch.nn.functional.interpolate(astronaut, size=(768, 1024), mode="bilinear")
    boxes = detect_faces(big, max_side=400)
    assert len(boxes) == 1
    x, y, w, h = boxes[0]
    cx, cy = (x + w / 2) * 512 / 1024, (y + h / 2) * 512 / 768
    assert 180 <= cx <= 260 and 80 <= cy <= 150


def test_no_face_in_flat_picture() -> None:
    grey = torch.full((1, 3, 96, 128), 0.5)
    assert detect_faces(grey) == []
    mask = face_mask(grey)
    assert mask.shape == (1, 1, 96, 128) and torch.count_nonzero(mask) == 0


def test_face_mask_from_boxes() -> None:
    image = torch.zeros(1, 3, 60, 80)
    mask = face_mask(image, boxes=[(20, 10, 20, 20)], grow=0.0, feather=0.0)
    assert mask[0, 0, 20, 30] == 1.0 and mask[0, 0, 10, 20] == 0.0 and mask[0, 0, 50, 70] == 0.0
    soft = face_mask(image, boxes=[(20, 10, 20, 20)], grow=0.0, feather=0.2)
    assert 0.0 < soft[0, 0, 20, 42] < 1.0  # just outside the ellipse: feathered
    with pytest.raises(InvalidOption):
        face_mask(image, boxes=[], feather=-1.0)
