"""Loss families: W2 between Gaussian fits, histogram loss, Laplacian detail term."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from impasto.losses.families import (
    blend_gaussians,
    blend_histograms,
    feature_stats,
    gaussian_target,
    histogram_loss,
    histogram_target,
    laplacian,
    laplacian_loss,
    match_histogram,
    w2_style_loss,
)


def _rand(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# ---- W2 between Gaussian fits ---------------------------------------------------------------


def test_feature_stats_are_population_mean_and_covariance() -> None:
    f = _rand(2, 3, 4, 5, dtype=torch.float64)
    mean, cov = feature_stats(f)
    flat = f.reshape(2, 3, 20)
    for i in range(2):
        torch.testing.assert_close(mean[i], flat[i].mean(-1))
        torch.testing.assert_close(cov[i], torch.cov(flat[i], correction=0))


def test_target_square_root() -> None:
    t = gaussian_target(_rand(1, 4, 5, 5))
    torch.testing.assert_close(t.cov_sqrt @ t.cov_sqrt, t.cov, rtol=1e-4, atol=1e-5)


def test_w2_zero_at_target_and_positive_otherwise() -> None:
    f = _rand(1, 4, 6, 6)
    assert float(w2_style_loss(f, gaussian_target(f))) == pytest.approx(0.0, abs=1e-5)
    assert float(w2_style_loss(_rand(1, 4, 6, 6, seed=1), gaussian_target(f))) > 1e-3


def test_w2_one_channel_closed_form() -> None:
    a = _rand(1, 1, 5, 7, dtype=torch.float64)
    b = 2.0 * _rand(1, 1, 6, 4, seed=1, dtype=torch.float64) + 0.5
    mu1, s1 = a.mean(), a.std(correction=0)
    mu2, s2 = b.mean(), b.std(correction=0)
    expected = ((mu1 - mu2) ** 2 + (s1 - s2) ** 2) / (s2**2 + mu2**2)
    got = w2_style_loss(a, gaussian_target(b))
    torch.testing.assert_close(got, expected, rtol=1e-8, atol=1e-10)


def test_w2_is_size_invariant_for_a_stationary_map() -> None:
    tile = _rand(1, 4, 4, 4)
    target = gaussian_target(_rand(1, 4, 5, 5, seed=1))
    got = w2_style_loss(tile.repeat(1, 1, 4, 4), target)
    torch.testing.assert_close(got, w2_style_loss(tile, target), rtol=1e-4, atol=1e-6)


def test_blend_gaussians() -> None:
    a, b = gaussian_target(_rand(1, 3, 5, 5)), gaussian_target(_rand(1, 3, 5, 5, seed=1))
    same = blend_gaussians([a, a], [1.0, 2.0])
    torch.testing.assert_close(same.cov_sqrt, a.cov_sqrt, rtol=1e-4, atol=1e-5)
    mix = blend_gaussians([a, b], [3.0, 1.0])
    torch.testing.assert_close(mix.mean, 0.75 * a.mean + 0.25 * b.mean)
    torch.testing.assert_close(mix.cov, 0.75 * a.cov + 0.25 * b.cov)
    torch.testing.assert_close(mix.cov_sqrt @ mix.cov_sqrt, mix.cov, rtol=1e-4, atol=1e-5)


# ---- Histograms ----------------------------------------------------------------------------


def test_match_histogram_against_own_target_is_identity() -> None:
    f = _rand(1, 3, 8, 8)
    # Q = N: the stored quantiles are the sorted values themselves, matching is exact.
    torch.testing.assert_close(match_histogram(f, histogram_target(f, 64)), f)
    # Default Q = 256: within a fraction of the gap between neighbouring values (about 1/64).
    torch.testing.assert_close(match_histogram(f, histogram_target(f)), f, rtol=0, atol=2e-2)
    assert float(histogram_loss(f, histogram_target(f, 64))) == pytest.approx(0.0, abs=1e-10)


def test_matched_values_follow_target_quantiles() -> None:
    f = _rand(2, 3, 6, 7)
    target = histogram_target(3 * _rand(1, 3, 5, 5, seed=1) ** 2 - 1)
    matched = match_histogram(f, target)
    n = 6 * 7
    ref = torch.quantile(target.sorted_values, torch.linspace(0, 1, n), dim=-1)  # (N, 1, C)
    ref = ref.permute(1, 2, 0).expand(2, 3, n)
    torch.testing.assert_close(matched.reshape(2, 3, n).sort(-1).values, ref)
    # The ranks are kept: matching is monotone per channel.
    torch.testing.assert_close(matched.reshape(2, 3, n).argsort(-1), f.reshape(2, 3, n).argsort(-1))


def test_blend_histograms_is_quantile_mean() -> None:
    a = histogram_target(_rand(1, 3, 5, 5), 16)
    b = histogram_target(_rand(1, 3, 5, 5, seed=1) + 1, 16)
    same = blend_histograms([a, a], [1.0, 3.0])
    torch.testing.assert_close(same.sorted_values, a.sorted_values)
    mix = blend_histograms([a, b], [1.0, 3.0])
    torch.testing.assert_close(mix.sorted_values, 0.25 * a.sorted_values + 0.75 * b.sorted_values)


# ---- Laplacian -----------------------------------------------------------------------------


def test_laplacian_of_flat_and_ramp() -> None:
    assert float(laplacian(torch.full((1, 3, 16, 16), 0.3)).abs().max()) == 0.0
    ramp = torch.linspace(0, 1, 16).expand(1, 3, 16, 16) + torch.linspace(0, 2, 16)[:, None]
    for pool in (1, 2, 4):
        lap = laplacian(ramp, pool)
        assert lap.shape[-1] == 16 // pool
        assert float(lap[..., 1:-1, 1:-1].abs().max()) < 1e-5
    image = _rand(1, 3, 16, 16)
    assert float(laplacian_loss(image, laplacian(image))) == 0.0
    assert float(laplacian_loss(image, laplacian(_rand(1, 3, 16, 16, seed=1)))) > 0.1


def test_laplacian_loss_on_flat_content_is_finite() -> None:
    loss = laplacian_loss(_rand(1, 3, 16, 16), laplacian(torch.full((1, 3, 16, 16), 0.5)))
    assert torch.isfinite(loss) and float(loss) > 0


# ---- All families: gradients, optimisation, precision ----------------------------------------


def test_gradcheck() -> None:
    f = _rand(1, 3, 4, 5, seed=2, dtype=torch.float64).requires_grad_()
    g = gaussian_target(_rand(1, 3, 4, 5, seed=3, dtype=torch.float64) * 2)
    assert torch.autograd.gradcheck(lambda x: w2_style_loss(x, g), (f,))
    h = histogram_target(_rand(1, 3, 4, 5, seed=3, dtype=torch.float64) ** 2, 32)
    assert torch.autograd.gradcheck(lambda x: histogram_loss(x, h), (f,))
    image = _rand(1, 3, 8, 8, seed=4, dtype=torch.float64).requires_grad_()
    lap = laplacian(_rand(1, 3, 8, 8, seed=5, dtype=torch.float64), 2)
    assert torch.autograd.gradcheck(lambda x: laplacian_loss(x, lap, pool=2), (image,))


def _cases() -> list[tuple[str, Callable[[torch.Tensor], torch.Tensor], tuple[int, ...]]]:
    other = _rand(1, 4, 8, 8, seed=7) * 2 + 0.5
    g, h = gaussian_target(other), histogram_target(other)
    lap = laplacian(_rand(1, 3, 16, 16, seed=7), 2)
    return [
        ("w2", lambda x: w2_style_loss(x, g), (1, 4, 8, 8)),
        ("histogram", lambda x: histogram_loss(x, h), (1, 4, 8, 8)),
        ("laplacian", lambda x: laplacian_loss(x, lap, pool=2), (1, 3, 16, 16)),
    ]


@pytest.mark.parametrize("name", ["w2", "histogram", "laplacian"])
def test_adam_decreases_loss(name: str) -> None:
    loss_fn, shape = next((fn, s) for n, fn, s in _cases() if n == name)
    x = _rand(*shape, seed=8).requires_grad_()
    opt = torch.optim.Adam([x], lr=0.05)
    start = float(loss_fn(x.detach()))
    for _ in range(50):
        opt.zero_grad()
        loss = loss_fn(x)
        loss.backward()
        opt.step()
    assert float(loss_fn(x.detach())) < 0.5 * start


@pytest.mark.parametrize("name", ["w2", "histogram", "laplacian"])
def test_bf16_inputs_give_float32_close_to_float32(name: str) -> None:
    loss_fn, shape = next((fn, s) for n, fn, s in _cases() if n == name)
    x = _rand(*shape, seed=9)
    ref, got = loss_fn(x), loss_fn(x.bfloat16())
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, ref, rtol=2e-2, atol=1e-6)


def test_w2_rank_deficient_covariance_has_finite_gradients() -> None:
    # More channels than positions (deep layers of small pictures): many zero eigenvalues.
    target = gaussian_target(_rand(1, 16, 2, 2, seed=1) * 10)
    f = _rand(2, 16, 2, 2).requires_grad_()  # batch of 2 against a batch-1 target
    loss = w2_style_loss(f, target)
    loss.backward()
    assert torch.isfinite(loss.detach()) and float(loss.detach()) > 0
    assert f.grad is not None and bool(torch.isfinite(f.grad).all())
    own = _rand(1, 16, 2, 2, seed=1) * 10
    assert float(w2_style_loss(own, target)) == pytest.approx(0.0, abs=1e-3)
