"""Feature transforms of arbitrary-style transfer, as pure functions on (B, C, H, W) features.

- AdaIN (Huang and Belongie 2017): give the content features the style's per-channel mean and
  standard deviation.
- WCT (Li et al. 2017): whiten the content features (remove their covariance), then colour them
  with the style's covariance and mean.

Statistics are computed once and passed in, so that a large picture cut into patches can use
the statistics of its thumbnail for every patch (URST, Chen et al. 2022). Optional weights
(B, 1, H, W) restrict statistics to a region (spatial control).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch

#: Added to variances before the square root (AdaIN) and, relative to the mean eigenvalue, to
#: covariance eigenvalues (WCT): flat or tiny pictures give zero variance.
EPS = 1e-5


@dataclass(frozen=True)
class MeanStd:
    """Per-channel mean and standard deviation, (B, C, 1, 1) each."""

    mean: torch.Tensor
    std: torch.Tensor


@dataclass(frozen=True)
class MeanCov:
    """Per-channel mean (B, C, 1) and covariance (B, C, C), float64."""

    mean: torch.Tensor
    cov: torch.Tensor

    @cached_property
    def root(self) -> torch.Tensor:
        """cov^(1/2), regularised (computed once: a style's is used for every patch)."""
        return _eig_power(self.cov, 0.5)

    @cached_property
    def inverse_root(self) -> torch.Tensor:
        """cov^(-1/2), regularised."""
        return _eig_power(self.cov, -0.5)


def _weights(f: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    if weight is None:
        return torch.full((f.shape[0], 1, *f.shape[2:]), 1.0 / (f.shape[2] * f.shape[3]),
                          dtype=f.dtype, device=f.device)
    w = weight.to(f.dtype)
    return w / w.sum(dim=(2, 3), keepdim=True).clamp_min(1e-12)


def mean_std(f: torch.Tensor, weight: torch.Tensor | None = None) -> MeanStd:
    """Mean and standard deviation per channel, over all positions or weighted by ``weight``."""
    f = f.float()
    w = _weights(f, weight)
    mean = (f * w).sum(dim=(2, 3), keepdim=True)
    var = ((f - mean) ** 2 * w).sum(dim=(2, 3), keepdim=True)
    return MeanStd(mean, (var + EPS).sqrt())


def adain(f: torch.Tensor, style: MeanStd, content: MeanStd | None = None) -> torch.Tensor:
    """AdaIN(x, y) = sigma(y) (x - mu(x)) / sigma(x) + mu(y); the content statistics are the
    features' own unless given."""
    f32 = f.float()
    c = content or mean_std(f32)
    return (f32 - c.mean) / c.std * style.std + style.mean


def mean_cov(f: torch.Tensor, weight: torch.Tensor | None = None) -> MeanCov:
    """Mean and covariance per channel (float64: eigendecompositions need it)."""
    f = f.double()
    b, c = f.shape[:2]
    w = _weights(f, weight).reshape(b, 1, -1)
    flat = f.reshape(b, c, -1)
    mean = (flat * w).sum(dim=2, keepdim=True)
    centred = flat - mean
    cov = (centred * w) @ centred.transpose(1, 2)
    return MeanCov(mean, cov)


def _eig_power(cov: torch.Tensor, power: float) -> torch.Tensor:
    """cov^power for symmetric positive semi-definite matrices, regularised: eigenvalues below
    EPS times their mean (and below 1e-10) are raised to that floor."""
    c = cov.shape[-1]
    eye = torch.eye(c, dtype=cov.dtype, device=cov.device)
    scale = (torch.diagonal(cov, dim1=-2, dim2=-1).sum(-1) / c).clamp_min(0.0)
    floor = (EPS * scale).clamp_min(1e-10)[:, None]
    # Li et al. (2017) add a small constant to the diagonal; the floor here is relative, so it
    # works at every layer's scale, and symmetrising first keeps eigh stable.
    sym = 0.5 * (cov + cov.transpose(-1, -2)) + floor[..., None] * eye
    values, vectors = torch.linalg.eigh(sym)
    values = torch.maximum(values, floor)
    return (vectors * values.pow(power)[:, None, :]) @ vectors.transpose(-1, -2)


def wct(f: torch.Tensor, style: MeanCov, content: MeanCov | None = None) -> torch.Tensor:
    """Whitening and colouring: C_s^(1/2) C_c^(-1/2) (x - mu_c) + mu_s, per picture."""
    b, c, h, w = f.shape
    stats = content or mean_cov(f)
    flat = f.double().reshape(b, c, -1) - stats.mean
    whitened = stats.inverse_root @ flat
    coloured = style.root @ whitened + style.mean
    return coloured.reshape(b, c, h, w).to(torch.float32)
