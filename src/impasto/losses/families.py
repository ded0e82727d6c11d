"""Further families of style and detail losses, as pure functions of tensors.

* Wasserstein-2 distance between Gaussian fits of the features (mean and covariance);
* histogram loss (per-channel quantile matching);
* Laplacian detail term on the image.

Feature maps are (B, C, H, W), possibly half precision (from autocast): statistics are computed in
at least float32 (float64 is kept, for gradcheck). Like :mod:`impasto.losses.functional`, every
loss is divided by a scale of its target, so it is 0 at the target and the same weight gives a
similar balance at any picture size and layer. Targets are computed once, without gradients.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from impasto.losses.functional import _wide

_EPS = 1e-8


def _flat(features: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H*W), at least float32."""
    b, c, h, w = features.shape
    return _wide(features).reshape(b, c, h * w)


def _sym(m: torch.Tensor) -> torch.Tensor:
    return (m + m.transpose(-2, -1)) / 2


def _normalised(weights: Sequence[float]) -> list[float]:
    total = float(sum(weights))
    if total <= 0:
        raise ValueError(f"blend weights must have a positive sum, got {list(weights)}")
    return [float(w) / total for w in weights]


# --------------------------------------------------------------------------------------------
# Mean and covariance: Wasserstein-2 between Gaussian fits
# --------------------------------------------------------------------------------------------


def feature_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (B, C) and population covariance (B, C, C) of features over positions.

    The covariance is normalised by the number of positions N (not N - 1), so a stationary map
    tiled k x k has the same statistics as the tile. It is computed from centred features (one
    pass more than ``E[f f^T] - mu mu^T``, without its cancellation in float32).
    """
    flat = _flat(features)
    mean = flat.mean(dim=-1)
    centred = flat - mean.unsqueeze(-1)
    cov = torch.bmm(centred, centred.transpose(1, 2)) / flat.shape[-1]
    return mean, cov


def _psd_sqrt(cov: torch.Tensor) -> torch.Tensor:
    """PSD square root of a symmetric matrix by eigh, negative eigenvalues (rounding) set to 0."""
    vals, vecs = torch.linalg.eigh(_sym(cov))
    return (vecs * vals.clamp_min(0).sqrt().unsqueeze(-2)) @ vecs.transpose(-2, -1)


@dataclass(frozen=True, eq=False)
class GaussianTarget:
    """Gaussian fit of target features: ``mean`` (B or 1, C), ``cov`` and its PSD square root
    ``cov_sqrt`` (B or 1, C, C), all detached and at least float32."""

    mean: torch.Tensor
    cov: torch.Tensor
    cov_sqrt: torch.Tensor

    def to(self, *args: Any, **kwargs: Any) -> GaussianTarget:
        """The same target moved or cast like :meth:`torch.Tensor.to`."""
        return GaussianTarget(
            *(t.to(*args, **kwargs) for t in (self.mean, self.cov, self.cov_sqrt))
        )


def _gaussian(mean: torch.Tensor, cov: torch.Tensor) -> GaussianTarget:
    mean, cov = mean.detach(), _sym(cov.detach())
    return GaussianTarget(mean, cov, _psd_sqrt(cov))


@torch.no_grad()
def gaussian_target(features: torch.Tensor) -> GaussianTarget:
    """Target of :func:`w2_style_loss`: mean, covariance and the covariance's square root
    (computed once here, by eigh)."""
    return _gaussian(*feature_stats(features))


@torch.no_grad()
def blend_gaussians(targets: Sequence[GaussianTarget], weights: Sequence[float]) -> GaussianTarget:
    """Target of several styles: weighted mean of the means and of the covariances (weights are
    normalised), with the square root recomputed.

    This is not the W2 barycentre of the Gaussians (which needs a fixed-point iteration), and not
    the Gaussian fit of the mixture either (crowsonkb/style-transfer-pytorch blends raw second
    moments, which adds the spread of the means to the covariance): a linear blend of the
    covariances, cheap and exact when the styles share their covariance.
    """
    ws = _normalised(weights)
    if len(ws) != len(targets):
        raise ValueError(f"{len(targets)} targets but {len(ws)} weights")
    mean = sum(
        (t.mean * w for t, w in zip(targets, ws, strict=True)), torch.zeros_like(targets[0].mean)
    )
    cov = sum(
        (t.cov * w for t, w in zip(targets, ws, strict=True)), torch.zeros_like(targets[0].cov)
    )
    return _gaussian(mean, cov)


def w2_style_loss(
    features: torch.Tensor, target: GaussianTarget, eps: float = 1e-3
) -> torch.Tensor:
    """Squared Wasserstein-2 distance between Gaussian fits of ``features`` and of the target.

    ``W2^2 = |mu - mu_t|^2 + tr(S) + tr(S_t) - 2 tr(sqrtm(S_t^1/2 S S_t^1/2))`` (Dowson and Landau
    1982; Givens and Shortt 1984), used as a style loss by Kolkin et al. (2019) and
    crowsonkb/style-transfer-pytorch. The last trace is the sum of the square roots of the
    eigenvalues of the symmetric PSD matrix ``S_t^1/2 S S_t^1/2`` (``eigvalsh``, in float32 or
    float64): only eigenvalue gradients are needed, which are stable with repeated eigenvalues.

    Divided by the target's second moment ``tr(S_t) + |mu_t|^2`` (the paper's distance is
    absolute), clamped at 0 and averaged over the batch. ``eps`` is a floor on the square roots of
    the eigenvalues relative to the target's scale (see below); the value it can hide near the
    target is at most ``2 eps``.
    """
    f = _wide(features)
    dtype = torch.promote_types(f.dtype, target.mean.dtype)
    mean, cov = feature_stats(f.to(dtype))
    mu_t, cov_t, root_t = (t.to(dtype) for t in (target.mean, target.cov, target.cov_sqrt))
    c = cov.shape[-1]
    tr_t = torch.diagonal(cov_t, dim1=-2, dim2=-1).sum(-1)
    scale = tr_t + mu_t.pow(2).sum(-1)  # (B or 1,): the target's second moment, per channel sum
    m = _sym(root_t @ cov @ root_t)
    vals = torch.linalg.eigvalsh(m)
    # Departure: the eigenvalues are clamped at (eps * s)^2, s the target's mean second moment
    # per channel, rather than at an absolute eps: the sqrt's gradient 1/(2 sqrt(lambda)) stays
    # below 1/(2 eps s) for the rounding-noise eigenvalues of a rank-deficient covariance (more
    # channels than positions), whatever the features' magnitude.
    floor = (eps * scale / c).pow(2).unsqueeze(-1)
    tr_cross = torch.maximum(vals, floor).sqrt().sum(-1)
    tr_s = torch.diagonal(cov, dim1=-2, dim2=-1).sum(-1)
    w2 = (mean - mu_t).pow(2).sum(-1) + tr_s + tr_t - 2 * tr_cross
    return (w2 / scale.clamp_min(_EPS)).clamp_min(0).mean()


# --------------------------------------------------------------------------------------------
# Histograms: Risser, Wilmot and Barnes (2017)
# --------------------------------------------------------------------------------------------


def _quantiles_at(sorted_values: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Quantile function given by ``sorted_values`` (..., L), evaluated at ``pos`` in [0, 1]
    (P,) by linear interpolation between the L sorted values: (..., P)."""
    n = sorted_values.shape[-1]
    if n == 1:
        return sorted_values.expand(*sorted_values.shape[:-1], pos.shape[0])
    idx = pos.to(sorted_values.dtype) * (n - 1)
    lo = idx.floor().long().clamp(0, n - 2)
    frac = idx - lo.to(idx.dtype)
    a = sorted_values.index_select(-1, lo)
    b = sorted_values.index_select(-1, lo + 1)
    return a + (b - a) * frac


@dataclass(frozen=True, eq=False)
class HistogramTarget:
    """Per-channel quantile functions of target features: ``sorted_values`` (B or 1, C, Q), the
    sorted activations resampled to Q evenly spaced quantiles (detached, at least float32)."""

    sorted_values: torch.Tensor

    def to(self, *args: Any, **kwargs: Any) -> HistogramTarget:
        """The same target moved or cast like :meth:`torch.Tensor.to`."""
        return HistogramTarget(self.sorted_values.to(*args, **kwargs))


@torch.no_grad()
def histogram_target(features: torch.Tensor, n_quantiles: int = 256) -> HistogramTarget:
    """Target of :func:`histogram_loss`: each channel's sorted values at ``n_quantiles`` evenly
    spaced quantiles (Risser et al. 2017 keep 256-bin histograms; a fixed number of quantiles is
    the same information as an inverse CDF, independent of the picture's size)."""
    if n_quantiles < 2:
        raise ValueError(f"n_quantiles must be at least 2, got {n_quantiles}")
    values = _flat(features).sort(dim=-1).values
    pos = torch.linspace(0, 1, n_quantiles, dtype=values.dtype, device=values.device)
    return HistogramTarget(_quantiles_at(values, pos))


@torch.no_grad()
def blend_histograms(
    targets: Sequence[HistogramTarget], weights: Sequence[float]
) -> HistogramTarget:
    """Target of several styles: the 1-D Wasserstein barycentre of each channel's histograms,
    which is the weighted mean of their quantile functions (weights normalised).

    Risser et al. (2017) match one style's histograms; the quantile mean is exact for 1-D
    distributions and stays sorted.
    """
    ws = _normalised(weights)
    if len(ws) != len(targets):
        raise ValueError(f"{len(targets)} targets but {len(ws)} weights")
    out = sum(
        (t.sorted_values * w for t, w in zip(targets, ws, strict=True)),
        torch.zeros_like(targets[0].sorted_values),
    )
    return HistogramTarget(out)


@torch.no_grad()
def match_histogram(features: torch.Tensor, target: HistogramTarget) -> torch.Tensor:
    """Features remapped, channel by channel, to follow the target's histogram (Risser et al.
    2017): the value of rank r among N positions becomes the target quantile at r / (N - 1),
    linearly interpolated between the Q stored quantiles. Ties are ranked in argsort's order.

    Returns (B, C, H, W) in at least float32, without gradient.
    """
    flat = _flat(features)
    q = target.sorted_values.to(torch.promote_types(flat.dtype, target.sorted_values.dtype))
    flat = flat.to(q.dtype)
    b, c, n = flat.shape
    pos = torch.arange(n, dtype=q.dtype, device=q.device) / max(n - 1, 1)
    values = _quantiles_at(q, pos).expand(b, c, n)  # value of each rank
    order = flat.argsort(dim=-1)
    matched = torch.empty_like(flat).scatter_(-1, order, values)
    return matched.reshape(features.shape)


def histogram_loss(features: torch.Tensor, target: HistogramTarget) -> torch.Tensor:
    """Histogram loss of Risser et al. (2017): ``|F - R(F)|^2`` with ``R(F)`` the features
    matched to the target histogram, held constant (gradient flows only through F).

    Departure: divided by ``|R(F)|^2`` (the paper's loss is the plain sum of squares), averaged
    over the batch, so it is relative like the other style terms.
    """
    f = _wide(features)
    matched = match_histogram(f, target)
    f = f.to(matched.dtype)
    dims = tuple(range(1, f.dim()))
    num = (f - matched).pow(2).sum(dim=dims)
    den = matched.pow(2).sum(dim=dims).clamp_min(_EPS)
    return (num / den).mean()


# --------------------------------------------------------------------------------------------
# Laplacian: Li, Xu, Yang and Tian (2017)
# --------------------------------------------------------------------------------------------


def laplacian(image: torch.Tensor, pool: int = 4) -> torch.Tensor:
    """Laplacian of the average-pooled image (Li et al. 2017, "Laplacian-Steered Neural Style
    Transfer"): ``pool`` x ``pool`` average pooling (the paper uses 2 or 4; 1 skips it), then
    the 3x3 filter [[0, 1, 0], [1, -4, 1], [0, 1, 0]] on each channel.

    Departure: replicate padding keeps the output the pooled size (the paper does not say how
    borders are treated). The output is at least float32.
    """
    x = _wide(image)
    if pool > 1:
        x = F.avg_pool2d(x, pool)
    c = x.shape[1]
    kernel = x.new_tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    kernel = kernel.expand(c, 1, 3, 3)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=c)


def laplacian_loss(
    image: torch.Tensor, target_laplacian: torch.Tensor, pool: int = 4, eps: float = 1e-6
) -> torch.Tensor:
    """Laplacian detail term of Li et al. (2017): ``|L(x) - L(c)|^2 / |L(c)|^2`` against the
    content's precomputed Laplacian ``L(c) = laplacian(content, pool)``, averaged over the batch.

    Departure: divided by the target's energy (the paper weights a plain sum of squares). The
    denominator is floored at ``eps`` per element so a flat content (``L(c) = 0``) gives a large
    but finite loss.
    """
    lap = laplacian(image, pool)
    target = target_laplacian.to(torch.promote_types(lap.dtype, target_laplacian.dtype))
    lap = lap.to(target.dtype)
    dims = tuple(range(1, lap.dim()))
    num = (lap - target).pow(2).sum(dim=dims)
    den = target.pow(2).sum(dim=dims).clamp_min(eps * target[0].numel())
    return (num / den).mean()
