"""The Python API: inputs of every kind, controls, alpha, provenance."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import impasto
from impasto.config import TransferConfig, strength_to_weights
from impasto.errors import InvalidImage, InvalidOption
from impasto.image.color import rgb_to_yuv
from impasto.image.save import read_metadata
from tests.conftest import to_tensor

FAST = {"size": 48, "iterations": 8, "scales": 1, "seed": 0}


@pytest.fixture(scope="module")
def stylizer() -> impasto.Stylizer:
    return impasto.Stylizer("cpu")


def test_stylize_accepts_paths_pil_and_arrays(content_png: Path, style_png: Path,
                                              content_array: np.ndarray,
                                              style_array: np.ndarray) -> None:
    a = impasto.stylize(content_png, style_png, **FAST)
    b = impasto.stylize(Image.fromarray(content_array), [Image.fromarray(style_array)], **FAST)
    c = impasto.stylize(content_array, style_array, **FAST)
    assert a.size == b.size == c.size == (48, 36)
    assert np.array_equal(np.asarray(a), np.asarray(c))
    record = json.loads(a.info["impasto"])
    assert record["content"]["name"] == "content.png"
    assert record["options"]["seed"] == 0


def test_result_changes_the_picture_towards_the_style(stylizer: impasto.Stylizer,
                                                      content_array: np.ndarray,
                                                      style_array: np.ndarray) -> None:
    result = stylizer.stylize(content_array, style_array, size=64, iterations=30, seed=0)
    before = impasto.score(content_array, style_array, content_array)
    after = impasto.score(content_array, style_array, result.image)
    assert after.style_distance < 0.6 * before.style_distance


def test_strength_zero_keeps_the_content(stylizer: impasto.Stylizer, content_array: np.ndarray,
                                         style_array: np.ndarray) -> None:
    result = stylizer.stylize(content_array, style_array, strength=0.0, **FAST)
    original = Image.fromarray(content_array).resize(result.image.size, Image.Resampling.BICUBIC)
    diff = np.abs(np.asarray(result.image, np.int16) - np.asarray(original, np.int16))
    assert diff.mean() < 3


def test_strength_maps_monotonically_onto_weights() -> None:
    ratios = [s / c for c, s in (strength_to_weights(x) for x in (0.1, 0.3, 0.5, 0.7, 0.9))]
    assert all(a < b for a, b in itertools.pairwise(ratios))
    assert strength_to_weights(0.0) == (1.0, 0.0) and strength_to_weights(1.0) == (0.0, 1.0)
    cfg = TransferConfig(strength=0.5, style_weight=7.0)
    assert cfg.weights() == (strength_to_weights(0.5)[0], 7.0)


def test_luminance_preservation_keeps_content_chroma(stylizer: impasto.Stylizer,
                                                     content_array: np.ndarray,
                                                     style_array: np.ndarray) -> None:
    result = stylizer.stylize(content_array, style_array, preserve_color="luminance", **FAST)
    out_yuv = rgb_to_yuv(result.tensor)
    content = torch.nn.functional.interpolate(to_tensor(content_array), size=(36, 48),
                                              mode="bilinear", antialias=True)
    content_yuv = rgb_to_yuv(content)
    chroma_err = (out_yuv[:, 1:] - content_yuv[:, 1:]).abs().mean()
    assert float(chroma_err) < 0.03
    # ...while the luminance did change.
    assert float((out_yuv[:, 0] - content_yuv[:, 0]).abs().mean()) > 0.02


def test_histogram_preservation_moves_colours_towards_content(
    stylizer: impasto.Stylizer, content_array: np.ndarray, style_array: np.ndarray
) -> None:
    plain = stylizer.stylize(content_array, style_array, **FAST).tensor
    kept = stylizer.stylize(content_array, style_array, preserve_color="histogram",
                            **FAST).tensor
    content_mean = to_tensor(content_array).mean(dim=(2, 3))
    assert float((kept.mean(dim=(2, 3)) - content_mean).abs().sum()) < float(
        (plain.mean(dim=(2, 3)) - content_mean).abs().sum())


def test_several_styles_with_blend(stylizer: impasto.Stylizer, content_array: np.ndarray,
                                   style_array: np.ndarray) -> None:
    other = np.full_like(style_array, 128)
    heavy = stylizer.stylize(content_array, [style_array, other], style_blend=(9, 1), size=48,
                             iterations=20, seed=0).tensor
    light = stylizer.stylize(content_array, [style_array, other], style_blend=(1, 9), size=48,
                             iterations=20, seed=0).tensor
    # The blend moves the picture's colour spread towards the heavier style (the grey style
    # has none).
    assert float(heavy.std(dim=(2, 3)).mean()) > 1.1 * float(light.std(dim=(2, 3)).mean())
    with pytest.raises(InvalidOption, match="style-blend has 1 weights for 2 style pictures"):
        stylizer.stylize(content_array, [style_array, other], style_blend=(1,), **FAST)


def test_alpha_is_carried_through(tmp_path: Path, stylizer: impasto.Stylizer,
                                  content_array: np.ndarray, style_array: np.ndarray) -> None:
    alpha = np.zeros(content_array.shape[:2], np.uint8)
    alpha[:, 32:] = 255
    rgba = np.dstack([content_array, alpha])
    result = stylizer.stylize(rgba, style_array, **FAST)
    assert result.image.mode == "RGBA"
    saved = result.save(tmp_path / "out.png")
    back = np.asarray(Image.open(saved))
    assert back.shape[-1] == 4 and back[:, :10, 3].max() < 20 and back[:, -10:, 3].min() > 235
    assert json.loads(read_metadata(saved)["impasto"])["software"].startswith("impasto")


def test_init_from_image_and_bad_init(stylizer: impasto.Stylizer, content_array: np.ndarray,
                                      style_array: np.ndarray, tmp_path: Path) -> None:
    init = tmp_path / "init.png"
    Image.fromarray(style_array).save(init)
    stylizer.stylize(content_array, style_array, init=str(init), **FAST)
    with pytest.raises(InvalidImage, match="init image not found"):
        stylizer.stylize(content_array, style_array, init=str(tmp_path / "nope.png"), **FAST)


@pytest.mark.parametrize("bad", [{"size": -5}, {"strength": float("nan")}, {"strength": 2},
                                 {"style_layers": ("relu9_1",)}, {"optimizer": "sgd"},
                                 {"tv_weight": -1}, {"wat": 1}, {"style_blend": ()}])
def test_nonsense_options_are_refused(bad: dict, content_array: np.ndarray,
                                      style_array: np.ndarray) -> None:
    with pytest.raises(InvalidOption):
        impasto.stylize(content_array, style_array, **bad)


def test_stylizer_reuses_its_network(stylizer: impasto.Stylizer) -> None:
    from impasto.runtime import choose_runtime

    layers = ["relu1_1", "relu4_2"]
    engine = stylizer.pipeline.optimize
    runtime = choose_runtime("optimize", stylizer.device)
    assert (engine.network(layers, "max", "zeros", runtime)
            is engine.network(list(reversed(layers)), "max", "zeros", runtime))


def test_score_of_identical_pictures(content_array: np.ndarray, style_array: np.ndarray) -> None:
    same = impasto.score(content_array, style_array, content_array)
    assert same.content_distance == pytest.approx(0.0, abs=1e-6)
    assert same.ssim == pytest.approx(1.0, abs=1e-6)
    assert same.style_distance > 0.3
    style_like = impasto.score(content_array, style_array, style_array)
    assert style_like.color_distance < same.color_distance


def test_real_pair_from_shared_data(shared_data: Path, stylizer: impasto.Stylizer) -> None:
    """A real photo and painting (skipped on a fresh clone without ../shared/data)."""
    content = shared_data / "content" / "kodim23_parrots.jpg"
    style = shared_data / "styles" / "starry_night.jpg"
    result = stylizer.stylize(content, style, size=96, seed=0)  # the progressive default
    before = impasto.score(content, style, Image.open(content).resize(result.image.size))
    after = impasto.score(content, style, result.image)
    assert after.style_distance < 0.7 * before.style_distance
    assert after.ssim > 0.2
    # From the photo the structure stays closer still (the AdaIN start trades some SSIM for
    # its speed: docs/benchmarks.md).
    classic = stylizer.stylize(content, style, size=96, iterations=40, init="content", seed=0)
    scores = impasto.score(content, style, classic.image)
    assert scores.style_distance < 0.7 * before.style_distance
    assert scores.ssim > 0.4
