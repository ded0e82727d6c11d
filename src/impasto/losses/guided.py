"""Spatially guided losses (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style
Transfer"): guided Gram matrices, which compute style statistics over a masked region only,
and a content loss whose weight varies over the picture.

Masks are (B or 1, 1, h, w) at the feature map's size (see
:func:`impasto.image.masks.downsample_mask`). Like :mod:`impasto.losses.functional`, every loss
is relative, so its value does not depend on the picture's size.
"""

from __future__ import annotations

import torch

from impasto.image.masks import downsample_mask
from impasto.losses.functional import _EPS, _wide, gram, relative_sq_error

__all__ = [
    "guided_gram",
    "guided_style_loss",
    "mask_energy",
    "protect_weights",
    "weighted_content_loss",
]


def _check_mask(features: torch.Tensor, mask: torch.Tensor) -> None:
    b, _, h, w = features.shape
    if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[0] not in (1, b) or (
        tuple(mask.shape[-2:]) != (h, w)
    ):
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not fit features of shape "
            f"{tuple(features.shape)}; expected ({b} or 1, 1, {h}, {w})"
        )


def mask_energy(mask: torch.Tensor) -> torch.Tensor:
    """``sum(m^2)`` over each mask of a (B, 1, h, w) batch, in at least float32: (B,)."""
    return _wide(mask).pow(2).sum(dim=(1, 2, 3))


def guided_gram(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Guided Gram matrix ``(F m)(F m)^T / sum(m^2)`` (Gatys et al. 2017, eq. 6): (B, C, C).

    ``F`` is (B, C, h, w), ``m`` (B or 1, 1, h, w) >= 0. With an all-ones mask this is
    :func:`~impasto.losses.functional.gram`; with a 0/1 mask it is the Gram matrix of the
    positions inside the mask. An all-zero mask gives a zero matrix (no NaN). The products run
    in the features' dtype (like ``gram``); the result is at least float32.
    """
    _check_mask(features, mask)
    h, w = features.shape[-2:]
    masked = features * mask.to(features.dtype)
    scale = (h * w) / mask_energy(mask).clamp_min(_EPS)
    return gram(masked) * scale.view(-1, 1, 1)


def guided_style_loss(
    features: torch.Tensor, mask: torch.Tensor, target_gram: torch.Tensor
) -> torch.Tensor:
    """``||G_m - A||^2 / ||A||^2`` between the guided Gram of ``features`` and a target Gram.

    The target ``A`` (B or 1, C, C) is usually the plain Gram matrix of the style assigned to
    the region (Gatys et al. 2017, sec. 3). Where a mask is all zero the region is empty and
    that item's loss is 0 (still part of the graph, with zero gradient); no host sync is made.
    """
    g = guided_gram(features, mask)
    on = (mask_energy(mask) > _EPS).to(g.dtype).view(-1, 1, 1)
    return relative_sq_error(g * on, _wide(target_gram) * on)


def weighted_content_loss(
    features: torch.Tensor, target: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """``sum(w (F - P)^2) / sum(P^2)`` averaged over the batch: a content loss weighted per place.

    ``weights`` (B or 1, 1, h, w) >= 0; all ones gives
    :func:`~impasto.losses.functional.content_loss` exactly. Use :func:`protect_weights` to
    raise the content weight inside a mask.
    """
    _check_mask(features, weights)
    f, p = _wide(features), _wide(target)
    dims = tuple(range(1, f.dim()))
    num = (_wide(weights) * (f - p).pow(2)).sum(dim=dims)
    den = p.pow(2).sum(dim=dims).clamp_min(_EPS)
    return (num / den).mean()


def protect_weights(
    mask: torch.Tensor, size: tuple[int, int], protect_weight: float
) -> torch.Tensor:
    """Per-position content weights ``1 + (protect_weight - 1) * mask`` at a layer's (h, w).

    The mask (B, 1, H, W) is area-averaged to the layer first; where it is 0 the weight is 1
    (the ordinary content loss), where it is 1 the weight is ``protect_weight``.
    """
    return 1.0 + (float(protect_weight) - 1.0) * downsample_mask(_wide(mask), size)
