"""Control: seamless output, textures, loss families, coarse/fine mixing, masks, sweeps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import impasto
from impasto.errors import InvalidImage, InvalidOption
from impasto.optim.transfer import resize, style_mix
from tests.conftest import stripes, synthetic_rgb
from tests.test_cli import FAST, assert_one_line_error, run

QUICK = {"size": 48, "iterations": 10, "scales": 1, "seed": 0}


@pytest.fixture(scope="module")
def stylizer() -> impasto.Stylizer:
    return impasto.Stylizer("cpu")


def wrap_ratio(img: np.ndarray, axis: int) -> float:
    """Mean |difference| across the wrap edge over the mean |difference| of inside neighbours."""
    a = img.astype(np.float64)
    inside = np.abs(np.diff(a, axis=axis)).mean()
    first = np.take(a, 0, axis=axis)
    last = np.take(a, -1, axis=axis)
    return float(np.abs(first - last).mean() / max(inside, 1e-9))


def test_tileable_texture_has_no_seam(stylizer: impasto.Stylizer) -> None:
    style = synthetic_rgb(64, 64, seed=3)
    result = stylizer.texture(style, size=64, iterations=40, scales=1, seed=0, wrap="both")
    img = np.asarray(result.image)
    assert img.shape == (64, 64, 3)
    assert wrap_ratio(img, 0) < 1.5 and wrap_ratio(img, 1) < 1.5
    # Without wrapping the edges are free: nothing makes them match.
    plain = np.asarray(stylizer.texture(style, size=64, iterations=40, scales=1, seed=0).image)
    assert wrap_ratio(plain, 1) > wrap_ratio(img, 1)


def test_tileable_x_wraps_horizontally_only(stylizer: impasto.Stylizer) -> None:
    result = stylizer.stylize(synthetic_rgb(40, 80, 1), stripes(64, 64), size=80,
                              iterations=30, scales=1, seed=0, wrap="x")
    img = np.asarray(result.image)
    assert img.shape[1] % 16 == 0 and img.shape[0] % 16 == 0
    assert wrap_ratio(img, 1) < 1.5


def test_wrap_resize_is_periodic() -> None:
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    a = resize(x, (32, 32), wrap="both")
    b = resize(torch.roll(x, 4, dims=-1), (32, 32), wrap="both")
    torch.testing.assert_close(torch.roll(a, 8, dims=-1), b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("loss", ["gram", "meancov", "histogram"])
def test_each_style_loss_moves_towards_the_style(stylizer: impasto.Stylizer, loss: str,
                                                 content_array: np.ndarray,
                                                 style_array: np.ndarray) -> None:
    result = stylizer.stylize(content_array, style_array, style_loss=loss, size=64,
                              iterations=25, scales=1, seed=0)
    before = impasto.score(content_array, style_array, content_array)
    after = impasto.score(content_array, style_array, result.image)
    assert after.style_distance < 0.8 * before.style_distance
    assert result.config.style_loss == loss


def test_detail_term_keeps_more_content(stylizer: impasto.Stylizer, content_array: np.ndarray,
                                        style_array: np.ndarray) -> None:
    plain = stylizer.stylize(content_array, style_array, **QUICK)
    detailed = stylizer.stylize(content_array, style_array, detail=50.0, **QUICK)
    s_plain = impasto.score(content_array, style_array, plain.image)
    s_detail = impasto.score(content_array, style_array, detailed.image)
    assert s_detail.ssim > s_plain.ssim


def test_coarse_fine_mix_assigns_layers() -> None:
    cfg = impasto.TransferConfig(coarse_style=2, fine_style=1)
    mix = style_mix(cfg, 2)
    assert mix["relu1_1"] == [1.0, 0.0] and mix["relu2_1"] == [1.0, 0.0]
    assert mix["relu3_1"] == [0.0, 1.0] and mix["relu5_1"] == [0.0, 1.0]
    with pytest.raises(InvalidOption, match="--coarse-style names style 3; there are 2"):
        style_mix(impasto.TransferConfig(coarse_style=3, fine_style=1), 2)
    with pytest.raises(InvalidOption, match="go together"):
        impasto.TransferConfig(coarse_style=1)


def test_region_masks_route_each_style(stylizer: impasto.Stylizer,
                                       content_array: np.ndarray) -> None:
    h, w = content_array.shape[:2]
    left = np.zeros((h, w), np.uint8)
    left[:, : w // 2] = 255
    right = 255 - left
    red = np.zeros((64, 64, 3), np.uint8)
    red[..., 0] = 220
    blue = np.zeros((64, 64, 3), np.uint8)
    blue[..., 2] = 220
    result = stylizer.stylize(content_array, [red, blue], masks=[(left, 1), (right, 2)],
                              size=64, iterations=40, scales=1, seed=0, strength=0.9)
    img = np.asarray(result.image).astype(float)
    half = img.shape[1] // 2
    left_half, right_half = img[:, : half - 4], img[:, half + 4:]
    assert left_half[..., 0].mean() > left_half[..., 2].mean() + 20
    assert right_half[..., 2].mean() > right_half[..., 0].mean() + 20


def test_protect_mask_keeps_content_there(stylizer: impasto.Stylizer,
                                          content_array: np.ndarray,
                                          style_array: np.ndarray) -> None:
    h, w = content_array.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    mask[:, : w // 2] = 255
    result = stylizer.stylize(content_array, style_array, protect=[(mask, 20.0)],
                              size=64, iterations=30, scales=1, seed=0)
    out = np.asarray(result.image).astype(float)
    ref = np.asarray(Image.fromarray(content_array).resize(result.image.size)).astype(float)
    half = out.shape[1] // 2
    err_protected = np.abs(out[:, : half - 4] - ref[:, : half - 4]).mean()
    err_free = np.abs(out[:, half + 4:] - ref[:, half + 4:]).mean()
    assert err_protected < err_free


def test_bad_masks(stylizer: impasto.Stylizer, content_array: np.ndarray,
                   style_array: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(InvalidImage, match="not found"):
        stylizer.stylize(content_array, style_array, masks=[(tmp_path / "no.png", 1)], **QUICK)
    with pytest.raises(InvalidOption, match="style 2"):
        stylizer.stylize(content_array, style_array,
                         masks=[(np.zeros(content_array.shape[:2], np.uint8), 2)], **QUICK)


def test_cli_texture_tileable(tmp_path: Path, style_png: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tex.png"
    code, stdout, err = run(capsys, "texture", style_png, "-o", out, "--size", "48",
                            "--iterations", "10", "--tileable", "--json")
    assert code == 0, err
    assert json.loads(stdout)["options"]["wrap"] == "both"
    assert Image.open(out).size == (48, 48)


def test_cli_mask_and_protect(tmp_path: Path, content_png: Path, style_png: Path,
                              content_array: np.ndarray,
                              capsys: pytest.CaptureFixture[str]) -> None:
    mask = tmp_path / "mask.png"
    Image.fromarray(np.full(content_array.shape[:2], 255, np.uint8)).save(mask)
    out = tmp_path / "o.png"
    code, _, err = run(capsys, "stylize", content_png, style_png, "-o", out, *FAST,
                       "--mask", f"{mask}=1", "--protect", f"{mask}=3", "--protect-faces")
    assert code == 0, err
    record = json.loads(impasto.image.save.read_metadata(out)["impasto"])
    assert record["masks"][0]["style"] == 1 and record["masks"][1]["protect"] == 3.0


@pytest.mark.parametrize("spec,needle", [("{mask}=3", "names style 3; there is 1 style"),
                                         ("{mask}", "=N"),
                                         ("{missing}=1", "not found"),
                                         ("{colour}=1", "not greyscale"),
                                         ("{small}=1", "but the content is")])
def test_cli_bad_masks(tmp_path: Path, content_png: Path, style_png: Path,
                       capsys: pytest.CaptureFixture[str], spec: str, needle: str) -> None:
    mask = tmp_path / "mask.png"
    Image.new("L", (64, 48), 255).save(mask)
    colour = tmp_path / "colour.png"
    Image.fromarray(stripes(48, 64)).save(colour)
    small = tmp_path / "small.png"
    Image.new("L", (20, 40), 255).save(small)
    arg = spec.format(mask=mask, missing=tmp_path / "missing.png", colour=colour, small=small)
    out = tmp_path / "o.png"
    code, _, err = run(capsys, "stylize", content_png, style_png, "-o", out, *FAST,
                       "--mask", arg)
    assert_one_line_error(code, err, needle)
    assert not out.exists()


def test_cli_sweep_sheet(tmp_path: Path, content_png: Path, style_png: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sheet.png"
    code, _, err = run(capsys, "sweep", content_png, style_png, "--param",
                       "strength=0.2,0.8", "-o", out, "--size", "40", "--iterations", "4")
    assert code == 0, err
    sheet = Image.open(out)
    assert sheet.width > 80 and sheet.height > 30
    code, _, err = run(capsys, "sweep", content_png, style_png, "--param", "colour=1,2",
                       "-o", out)
    assert_one_line_error(code, err, "is not an option that can be swept")
    code, _, err = run(capsys, "sweep", content_png, style_png, "--param", "strength=0.2,7",
                       "-o", tmp_path / "s2.png")
    assert_one_line_error(code, err, "strength")
