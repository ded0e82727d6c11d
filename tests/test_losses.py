"""Losses: known values, invariants, gradcheck, and functions and modules agreeing."""

from __future__ import annotations

import pytest
import torch

from impasto.losses import content_loss, gram, gram_style_loss, tv_loss
from impasto.losses import functional as LF


def test_gram_of_known_map() -> None:
    # Two channels over 2 positions: [1, 2] and [3, 4].
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    expected = torch.tensor([[[1 + 4, 3 + 8], [3 + 8, 9 + 16]]]) / 2.0
    torch.testing.assert_close(gram(f), expected)


def test_gram_is_size_invariant_for_a_stationary_map() -> None:
    tile = torch.rand(1, 8, 4, 4, generator=torch.Generator().manual_seed(0))
    big = tile.repeat(1, 1, 4, 4)
    torch.testing.assert_close(gram(tile), gram(big), rtol=1e-5, atol=1e-6)


def test_tv_of_flat_image_is_zero_and_positive_otherwise() -> None:
    assert float(tv_loss(torch.full((1, 3, 8, 8), 0.3))) == 0.0
    assert float(tv_loss(torch.rand(1, 3, 8, 8))) > 0.0


def test_relative_losses_are_zero_at_target_and_scale_free() -> None:
    f = torch.rand(1, 4, 6, 6) + 0.1
    assert float(content_loss(f, f)) == 0.0
    assert float(gram_style_loss(f, gram(f))) == pytest.approx(0.0, abs=1e-7)
    g = torch.rand(1, 4, 6, 6)
    # Scaling both feature maps leaves the relative content loss unchanged.
    assert float(content_loss(3 * g, 3 * f)) == pytest.approx(float(content_loss(g, f)), rel=1e-5)


def test_relative_error_is_the_root_of_the_squared_form_per_item() -> None:
    x, t = torch.rand(3, 4, 6, 6), torch.rand(3, 4, 6, 6) + 0.1
    per_item = [float(LF.relative_sq_error(x[i:i + 1], t[i:i + 1])) ** 0.5 for i in range(3)]
    assert float(LF.relative_error(x, t)) == pytest.approx(sum(per_item) / 3, rel=1e-5)
    # At the target it is (almost) zero and its gradient is finite.
    y = t.clone().requires_grad_(True)
    LF.relative_error(y, t).backward()
    assert float(LF.relative_error(t, t)) < 1e-3
    assert torch.isfinite(y.grad).all()


def test_gradcheck_gram_and_style_loss() -> None:
    f = torch.rand(1, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    target = gram(torch.rand(1, 3, 4, 5, dtype=torch.float64))
    assert torch.autograd.gradcheck(gram, (f,))
    assert torch.autograd.gradcheck(lambda x: gram_style_loss(x, target), (f,))
    assert torch.autograd.gradcheck(lambda x: tv_loss(x), (f,))


def test_blend_grams_is_weighted_mean() -> None:
    a, b = torch.ones(1, 2, 2), torch.zeros(1, 2, 2)
    torch.testing.assert_close(LF.blend_grams([a, b], [3.0, 1.0]), torch.full((1, 2, 2), 0.75))


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-6), (torch.bfloat16, 2e-2)])
def test_dtype_matrix(dtype: torch.dtype, tol: float) -> None:
    f = torch.rand(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    ref = gram(f)
    got = gram(f.to(dtype))
    assert got.dtype == torch.float32  # Gram sums in float32 whatever the input
    torch.testing.assert_close(got, ref, rtol=tol, atol=tol)
