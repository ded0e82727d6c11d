"""Guided Gram matrices and per-position content weights (Gatys et al. 2017)."""

from __future__ import annotations

import pytest
import torch

from impasto.losses.functional import content_loss, gram, gram_style_loss
from impasto.losses.guided import (
    guided_gram,
    guided_style_loss,
    protect_weights,
    weighted_content_loss,
)


def _features(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_all_ones_mask_is_gram() -> None:
    f = _features(2, 5, 6, 7)
    assert torch.allclose(guided_gram(f, torch.ones(1, 1, 6, 7)), gram(f), atol=1e-6)
    assert torch.allclose(guided_gram(f, torch.ones(2, 1, 6, 7)), gram(f), atol=1e-6)


def test_half_mask_is_gram_of_that_half() -> None:
    f = _features(1, 4, 6, 8, seed=1)
    mask = torch.zeros(1, 1, 6, 8)
    mask[..., :4] = 1.0
    half = f[..., :4].reshape(1, 4, -1)
    expected = half @ half.transpose(1, 2) / half.shape[-1]
    assert torch.allclose(guided_gram(f, mask), expected, atol=1e-6)
    # a constant mask c gives the same matrix as 1 (the normalisation cancels it)
    assert torch.allclose(guided_gram(f, 0.3 * mask), expected, atol=1e-5)


def test_zero_mask_gives_zeros_and_zero_loss() -> None:
    f = _features(1, 3, 4, 4, seed=2).requires_grad_(True)
    zero = torch.zeros(1, 1, 4, 4)
    g = guided_gram(f, zero)
    assert torch.equal(g, torch.zeros(1, 3, 3))
    target = gram(_features(1, 3, 4, 4, seed=3))
    loss = guided_style_loss(f, zero, target)
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert f.grad is not None and torch.isfinite(f.grad).all() and torch.all(f.grad == 0)


def test_guided_style_loss() -> None:
    f = _features(1, 4, 5, 5, seed=4)
    ones = torch.ones(1, 1, 5, 5)
    target = gram(_features(1, 4, 5, 5, seed=5))
    assert torch.allclose(guided_style_loss(f, ones, target), gram_style_loss(f, target))
    mask = torch.zeros(1, 1, 5, 5)
    mask[..., 2:, :] = 1.0
    assert guided_style_loss(f, mask, guided_gram(f, mask)).item() == pytest.approx(0, abs=1e-12)
    # a batch where only the second item's region is empty: that item contributes 0
    both = _features(2, 4, 5, 5, seed=6)
    masks = torch.stack([ones[0], torch.zeros(1, 5, 5)])
    loss = guided_style_loss(both, masks, target)
    assert loss.item() == pytest.approx(gram_style_loss(both[:1], target).item() / 2, rel=1e-5)


def test_low_precision_widened() -> None:
    f = _features(1, 3, 4, 4, seed=7).to(torch.bfloat16)
    assert guided_gram(f, torch.ones(1, 1, 4, 4)).dtype == torch.float32


def test_mask_shape_checked() -> None:
    f = _features(2, 3, 4, 4)
    for bad in (torch.ones(1, 1, 4, 5), torch.ones(3, 1, 4, 4), torch.ones(1, 2, 4, 4)):
        with pytest.raises(ValueError):
            guided_gram(f, bad)
        with pytest.raises(ValueError):
            weighted_content_loss(f, f, bad)


def test_gradcheck_guided_gram() -> None:
    f = _features(1, 3, 3, 4, seed=8, dtype=torch.float64).requires_grad_(True)
    m = torch.rand(1, 1, 3, 4, dtype=torch.float64,
                   generator=torch.Generator().manual_seed(9)).requires_grad_(True)
    assert torch.autograd.gradcheck(guided_gram, (f, m))
    target = gram(_features(1, 3, 3, 4, seed=10, dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda x: guided_style_loss(x, m.detach(), target), (f,))


def test_gradcheck_weighted_content_loss() -> None:
    f = _features(1, 3, 3, 4, seed=11, dtype=torch.float64).requires_grad_(True)
    p = _features(1, 3, 3, 4, seed=12, dtype=torch.float64)
    w = 1 + 3 * torch.rand(1, 1, 3, 4, dtype=torch.float64,
                           generator=torch.Generator().manual_seed(13))
    assert torch.autograd.gradcheck(lambda x: weighted_content_loss(x, p, w), (f,))


def test_weighted_content_loss_matches_content_loss() -> None:
    f, p = _features(2, 4, 6, 6, seed=14), _features(2, 4, 6, 6, seed=15)
    zero = torch.zeros(1, 1, 24, 24)
    weights = protect_weights(zero, (6, 6), 5.0)
    assert torch.equal(weights, torch.ones(1, 1, 6, 6))
    assert torch.allclose(weighted_content_loss(f, p, weights), content_loss(f, p), rtol=1e-6)


def test_protect_weights_raise_the_loss_inside() -> None:
    p = _features(1, 4, 6, 6, seed=16)
    f = p.clone()
    f[..., :3, :] += 1.0  # error only in the top half
    mask = torch.zeros(1, 1, 12, 12)
    mask[..., :6, :] = 1.0  # protect the top half
    weights = protect_weights(mask, (6, 6), 4.0)
    assert set(weights.unique().tolist()) == {1.0, 4.0}
    plain = content_loss(f, p)
    assert torch.allclose(weighted_content_loss(f, p, weights), 4 * plain, rtol=1e-6)
