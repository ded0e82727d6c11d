"""Seamless outputs from a photo (--tileable): the photo's own shapes must not be cut where the
picture wraps. Measured on a 2 x 2 repeat of the output: the mean difference between adjacent
pixels across the tile boundary against the same statistic inside the picture.

Measured at 64 px, 40 steps, seed 0 (wrap edge / interior, x and y): astronaut + coffee
3.05 / 4.13 before the content gave way at the wrap, 0.74 / 0.95 after; the synthetic picture
with stripes, wrap="x", 3.12 across the wrap before, 0.86 after. A single boundary row of a
64 px picture is a noisy statistic (interior rows spread by about 0.2), hence the 1.3 bound.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data as skdata

from impasto.api import Stylizer
from impasto.features.vgg import VGG19
from impasto.optim import objective as OBJ
from impasto.optim.objective import TransferObjective, protect_map, wrap_blend, wrap_ramp
from tests.conftest import stripes, synthetic_rgb

#: Largest wrap-edge / interior ratio a seamless output may show.
SEAM_BOUND = 1.3
SIZE, STEPS = 64, 40


def seam_ratios(picture: np.ndarray) -> tuple[float, float]:
    """(x, y): mean |difference| of adjacent pixels across the tile boundaries of a 2 x 2
    repeat of ``picture``, over the mean |difference| of adjacent pixels inside it."""
    t = np.asarray(picture, dtype=np.float64)
    h, w = t.shape[:2]
    rep = np.tile(t, (2, 2, 1))
    edge_x = np.abs(rep[:, w] - rep[:, w - 1]).mean()
    edge_y = np.abs(rep[h] - rep[h - 1]).mean()
    return (float(edge_x / np.abs(np.diff(t, axis=1)).mean()),
            float(edge_y / np.abs(np.diff(t, axis=0)).mean()))


@pytest.fixture(scope="module")
def stylizer() -> Stylizer:
    return Stylizer("cpu")


def _render(stylizer: Stylizer, content: np.ndarray, style: np.ndarray, **options: object
            ) -> np.ndarray:
    result = stylizer.stylize(content, style, seed=0, **options)
    return np.asarray(result.image.convert("RGB"))


def test_metric_sees_a_cut_photo() -> None:
    # The photo itself, repeated, is cut at its edges.
    x, y = seam_ratios(skdata.astronaut())
    assert x > 3 and y > 3


def test_tileable_photo_has_no_seam_in_a_2x2_repeat(stylizer: Stylizer) -> None:
    out = _render(stylizer, skdata.astronaut(), skdata.coffee(), size=SIZE, iterations=STEPS,
                  wrap="both")
    x, y = seam_ratios(out)
    assert x <= SEAM_BOUND and y <= SEAM_BOUND, (x, y)


def test_wrap_x_joins_left_and_right_only(stylizer: Stylizer) -> None:
    out = _render(stylizer, synthetic_rgb(SIZE, SIZE, seed=2), stripes(SIZE, SIZE),
                  size=SIZE, iterations=STEPS, wrap="x")
    x, y = seam_ratios(out)
    assert x <= SEAM_BOUND, x
    assert y > 1.5, y  # top and bottom do not wrap: the photo keeps its own edges there
    ramp = wrap_ramp((32, 48), "x")
    assert ramp is not None
    assert torch.equal(ramp[..., 0, :], ramp[..., 16, :])  # no ramp along y
    assert ramp[..., 0].max() < 0.05 and ramp[..., 24].min() == 1.0


def test_ramp_falls_to_zero_at_every_wrapped_edge() -> None:
    ramp = wrap_ramp((64, 96), "both")
    assert ramp is not None and ramp.shape == (1, 1, 64, 96)
    for edge in (ramp[..., 0, :], ramp[..., -1, :], ramp[..., :, 0], ramp[..., :, -1]):
        assert edge.max() < 0.05
    band_y, band_x = round(OBJ.WRAP_BAND * 64), round(OBJ.WRAP_BAND * 96)
    assert (ramp[..., band_y:-band_y, band_x:-band_x] == 1.0).all()
    # The blend keeps the inside and joins the opposite edges.
    image = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    blended = wrap_blend(image, "both")
    assert torch.equal(blended[..., band_y:-band_y, band_x:-band_x],
                       image[..., band_y:-band_y, band_x:-band_x])
    assert (blended[..., 0, :] - blended[..., -1, :]).abs().mean() < 0.05


def test_no_wrap_is_unchanged() -> None:
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert wrap_ramp((32, 32), "none") is None
    assert wrap_blend(image, "none") is image
    vgg = VGG19(["relu4_2", "relu1_1"])
    common = dict(styles=[image], style_mix={"relu1_1": [1.0]}, content_layers=["relu4_2"],
                  style_layers=["relu1_1"], style_layer_weights=None, content_weight=1.0,
                  style_weight=1.0)
    plain = TransferObjective(vgg, content=image, **common)  # type: ignore[arg-type]
    assert plain.content_maps["relu4_2"] is None  # the unweighted content loss, as before
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1.0
    guarded = TransferObjective(vgg, content=image, protect=[(mask, 3.0)],
                                **common)  # type: ignore[arg-type]
    expected = protect_map([(mask, 3.0)], plain.content_targets["relu4_2"].shape[-2:])
    assert torch.equal(guarded.content_maps["relu4_2"], expected)


def test_no_wrap_output_is_that_of_the_unchanged_code_path(
        stylizer: Stylizer, monkeypatch: pytest.MonkeyPatch) -> None:
    content, style = synthetic_rgb(32, 32, seed=1), stripes(32, 32)
    now = _render(stylizer, content, style, size=32, iterations=5)
    # Without the seam code (no ramp, no blend) the default run must give the same picture.
    monkeypatch.setattr(OBJ, "wrap_ramp", lambda *args, **kwargs: None)
    before = _render(stylizer, content, style, size=32, iterations=5)
    assert np.array_equal(now, before)
