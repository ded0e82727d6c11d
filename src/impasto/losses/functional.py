"""Loss functions as pure functions of tensors (no state, no modules).

Feature maps are (B, C, H, W). Every loss here is normalised so that its value does not depend on
the picture's size: the same weights give the same balance at 256 px and at 2048 px.
"""

from __future__ import annotations

from typing import Any

import torch

_EPS = 1e-8


def _wide(x: torch.Tensor) -> torch.Tensor:
    """At least float32: half-precision inputs (from autocast) are widened, float64 is kept."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


class _Gram(torch.autograd.Function):
    """``F F^T / n`` over flattened positions, with a one-matmul backward.

    The products run in the features' own dtype (bf16 under autocast, where CPUs and GPUs are
    several times faster than in float32; the matmul kernels accumulate in float32) and the
    result is returned in at least float32. Autograd's own backward for ``F @ F.T`` takes two
    matmuls, two transposes and an addition; the gradient is ``(dG + dG^T) F / n`` in one.
    """

    @staticmethod
    def forward(ctx: Any, flat: torch.Tensor) -> torch.Tensor:  # (B, C, N)
        ctx.save_for_backward(flat)
        return _wide(torch.bmm(flat, flat.transpose(1, 2))) / flat.shape[-1]

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (flat,) = ctx.saved_tensors
        sym = (grad + grad.transpose(1, 2)) / flat.shape[-1]
        return torch.bmm(sym.to(flat.dtype), flat)


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix of feature maps, normalised by the number of positions: (B, C, C).

    Gatys et al. (2016) use the unnormalised sum over positions; dividing by H*W makes the matrix
    a spatial mean, so it does not grow with the picture and style targets computed at one size
    stay valid at another. The result is at least float32 whatever the input's precision.
    """
    b, c, h, w = features.shape
    return _Gram.apply(features.reshape(b, c, h * w))


def _relative_sq_per_item(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``||x - target||^2 / ||target||^2`` of each batch item: (B,)."""
    x, target = _wide(x), _wide(target)
    dims = tuple(range(1, x.dim()))
    num = (x - target).pow(2).sum(dim=dims)
    den = target.pow(2).sum(dim=dims).clamp_min(_EPS)
    return num / den


def relative_sq_error(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``||x - target||^2 / ||target||^2``, averaged over the batch; 0 when equal."""
    return _relative_sq_per_item(x, target).mean()


def relative_error(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``||x - target|| / ||target||`` per batch item, averaged over the batch: the distance
    ``impasto score`` reports (its gradient has the same size however far off ``x`` is)."""
    return _relative_sq_per_item(x, target).clamp_min(_EPS).sqrt().mean()


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Relative squared distance between feature maps (Gatys et al. 2016 use the plain sum of
    squares; dividing by the target's energy makes the term independent of size and layer)."""
    return relative_sq_error(features, target)


def gram_style_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Relative squared distance between the Gram matrix of ``features`` and a target Gram.

    Gatys et al. (2016) weight each layer by 1/(4 N^2 M^2); we divide by the target Gram's energy
    instead, so every layer contributes on the same scale whatever its activation magnitude.
    """
    return relative_sq_error(gram(features), target_gram)


def tv_loss(image: torch.Tensor, *, wrap_x: bool = False, wrap_y: bool = False) -> torch.Tensor:
    """Total variation: mean squared difference of neighbouring pixels (0 when flat).

    ``wrap_x`` / ``wrap_y`` also compare the last column / row with the first (tileable output).
    """
    dx = (image - image.roll(1, -1)) if wrap_x else image[..., :, 1:] - image[..., :, :-1]
    dy = (image - image.roll(1, -2)) if wrap_y else image[..., 1:, :] - image[..., :-1, :]
    return _wide(dx).pow(2).mean() + _wide(dy).pow(2).mean()


def blend_grams(grams: list[torch.Tensor], weights: list[float]) -> torch.Tensor:
    """Weighted mean of Gram matrices: the style target of several style images."""
    total = float(sum(weights))
    out = torch.zeros_like(grams[0])
    for g, w in zip(grams, weights, strict=True):
        out = out + g * (w / total)
    return out
