"""Tests for impasto.image.color."""

from __future__ import annotations

import pytest
import torch

from impasto.image.color import (
    luminance,
    match_color_histogram,
    match_luminance_stats,
    rgb_to_yuv,
    transfer_luminance,
    yuv_to_rgb,
)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = x.double().flatten(2)[0]
    mu = flat.mean(dim=1)
    centred = flat - mu[:, None]
    return mu, centred @ centred.T / flat.shape[1]


def _correlated(seed: int, size: tuple[int, int], mean: float, mix: list[list[float]]):
    noise = torch.randn(1, 3, *size, generator=_gen(seed))
    mixed = torch.einsum("ij,bjhw->bihw", torch.tensor(mix), noise)
    return mean + mixed


def test_yuv_round_trip_and_known_values() -> None:
    x = torch.rand(2, 3, 5, 7, generator=_gen(0))
    assert torch.allclose(yuv_to_rgb(rgb_to_yuv(x)), x, atol=1e-6)
    white = torch.ones(1, 3, 1, 1)
    assert torch.allclose(rgb_to_yuv(white).flatten(), torch.tensor([1.0, 0.0, 0.0]), atol=1e-6)
    blue = torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1)
    assert rgb_to_yuv(blue).flatten()[1].item() == pytest.approx(0.436, abs=1e-6)
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    assert rgb_to_yuv(red).flatten()[2].item() == pytest.approx(0.615, abs=1e-6)
    assert luminance(x).shape == (2, 1, 5, 7)
    assert torch.allclose(luminance(x), rgb_to_yuv(x)[:, :1])


def test_transfer_luminance_keeps_content_chroma_and_stylised_y() -> None:
    stylised = torch.rand(1, 3, 8, 8, generator=_gen(1)) * 0.4 + 0.3
    content = torch.rand(1, 3, 8, 8, generator=_gen(2)) * 0.2 + 0.4
    out = transfer_luminance(stylised, content)
    assert out.shape == stylised.shape
    assert torch.allclose(rgb_to_yuv(out)[:, 1:], rgb_to_yuv(content)[:, 1:], atol=1e-5)
    assert torch.allclose(luminance(out), luminance(stylised), atol=1e-5)
    assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_transfer_luminance_resizes_content() -> None:
    stylised = torch.rand(2, 3, 6, 10, generator=_gen(3))
    content = torch.full((1, 3, 12, 20), 0.5)
    content[:, 0] = 0.7
    out = transfer_luminance(stylised, content)
    assert out.shape == (2, 3, 6, 10) and not out.isnan().any()
    small = transfer_luminance(torch.rand(1, 3, 16, 16, generator=_gen(4)), content[..., :4, :4])
    assert small.shape == (1, 3, 16, 16)


def test_match_luminance_stats() -> None:
    style_y = torch.rand(1, 1, 16, 16, generator=_gen(5)) * 0.2 + 0.2
    content_y = torch.rand(1, 1, 9, 11, generator=_gen(6)) * 0.2 + 0.4
    out = match_luminance_stats(style_y, content_y)
    assert out.shape == style_y.shape
    assert out.mean().item() == pytest.approx(content_y.mean().item(), abs=1e-5)
    assert out.std(correction=0).item() == pytest.approx(
        content_y.std(correction=0).item(), abs=1e-5
    )
    flat = match_luminance_stats(torch.full((1, 1, 4, 4), 0.3), content_y)
    assert not flat.isnan().any()
    assert torch.allclose(flat, content_y.mean().expand_as(flat), atol=1e-5)


@pytest.mark.parametrize("method", ["pca", "chol", "sym"])
def test_match_color_histogram_matches_mean_and_covariance(method: str) -> None:
    source = _correlated(7, (48, 40), 0.5, [[0.05, 0.02, 0.0], [0.0, 0.04, 0.01], [0.02, 0, 0.03]])
    target = _correlated(8, (24, 20), 0.45, [[0.06, 0.0, 0.0], [0.03, 0.05, 0.0], [0, 0.02, 0.07]])
    out = match_color_histogram(source, target, method=method)
    assert out.shape == source.shape and out.dtype == source.dtype
    mu_o, cov_o = _stats(out)
    mu_t, cov_t = _stats(target)
    assert torch.allclose(mu_o, mu_t, atol=1e-4)
    assert torch.allclose(cov_o, cov_t, atol=2e-5)


@pytest.mark.parametrize("method", ["pca", "chol", "sym"])
def test_match_color_histogram_flat_images(method: str) -> None:
    flat = torch.full((1, 3, 6, 6), 0.3)
    busy = torch.rand(1, 3, 5, 5, generator=_gen(9))
    for source, target in ((flat, busy), (busy, flat), (flat, flat * 2)):
        out = match_color_histogram(source, target, method=method)
        assert out.isfinite().all()
        assert torch.allclose(out.mean(dim=(2, 3)), target.mean(dim=(2, 3)), atol=0.02)


def test_match_color_histogram_is_clamped_and_keeps_dtype() -> None:
    source = torch.rand(1, 3, 8, 8, generator=_gen(10))
    target = torch.rand(1, 3, 8, 8, generator=_gen(11)) * 3 - 1
    out = match_color_histogram(source, target)
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    assert match_color_histogram(source.half(), target).dtype == torch.float16
