"""Colour handling for colour-preserving style transfer (pure torch).

Tensors are float (B, 3, H, W) sRGB in [0, 1]. The two colour-preservation methods follow Gatys
et al. 2016, "Preserving Color in Neural Artistic Style Transfer": luminance-only transfer
(:func:`transfer_luminance`, with :func:`match_luminance_stats` applied to the style first) and
colour histogram matching by a linear mean/covariance transfer (:func:`match_color_histogram`).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

__all__ = [
    "luminance",
    "match_color_histogram",
    "match_luminance_stats",
    "rgb_to_yuv",
    "transfer_luminance",
    "yuv_to_rgb",
]

# BT.601 luma weights and the U, V scale factors (U = 0.436 at pure blue, V = 0.615 at pure red).
_KR, _KG, _KB = 0.299, 0.587, 0.114
_WU = 0.436 / (1.0 - _KB)
_WV = 0.615 / (1.0 - _KR)


def _check_rgb(x: torch.Tensor, what: str) -> None:
    if x.dim() < 3 or x.shape[-3] != 3:
        raise ValueError(f"{what} must have 3 channels at dim -3, got shape {tuple(x.shape)}")


def _check_batch(x: torch.Tensor, what: str, channels: int = 3) -> None:
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"{what} must be (B, {channels}, H, W), got shape {tuple(x.shape)}")


def rgb_to_yuv(x: torch.Tensor) -> torch.Tensor:
    """RGB -> BT.601 YUV, channels at dim -3."""
    _check_rgb(x, "rgb_to_yuv input")
    r, g, b = x.unbind(dim=-3)
    y = _KR * r + _KG * g + _KB * b
    return torch.stack((y, _WU * (b - y), _WV * (r - y)), dim=-3)


def yuv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """BT.601 YUV -> RGB, the exact inverse of :func:`rgb_to_yuv`."""
    _check_rgb(x, "yuv_to_rgb input")
    y, u, v = x.unbind(dim=-3)
    r = y + v / _WV
    b = y + u / _WU
    g = (y - _KR * r - _KB * b) / _KG
    return torch.stack((r, g, b), dim=-3)


def luminance(x: torch.Tensor) -> torch.Tensor:
    """BT.601 luma Y of an RGB tensor, keeping a channel dim of 1: (B, 1, H, W)."""
    _check_rgb(x, "luminance input")
    r, g, b = x.unbind(dim=-3)
    return (_KR * r + _KG * g + _KB * b).unsqueeze(-3)


def _resize_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    shrinking = x.shape[-2] > size[0] or x.shape[-1] > size[1]
    out = F.interpolate(
        x.float(), size=size, mode="bilinear", align_corners=False, antialias=shrinking
    )
    return out.to(x.dtype)


def transfer_luminance(stylised: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Y of ``stylised`` with U, V of ``content`` (resized to match), as RGB clamped to [0, 1]."""
    _check_batch(stylised, "stylised")
    _check_batch(content, "content")
    content = _resize_to(content.to(stylised.device), (stylised.shape[-2], stylised.shape[-1]))
    uv = rgb_to_yuv(content.to(stylised.dtype))[:, 1:]
    if uv.shape[0] != stylised.shape[0]:
        uv = uv.expand(stylised.shape[0], -1, -1, -1)
    return yuv_to_rgb(torch.cat((luminance(stylised), uv), dim=1)).clamp(0.0, 1.0)


def match_luminance_stats(
    style_y: torch.Tensor, content_y: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """Shift and scale ``style_y`` to the mean and std of ``content_y``; clamped to [0, 1]."""
    dims = tuple(range(1, style_y.dim()))
    cdims = tuple(range(1, content_y.dim()))
    content_y = content_y.to(style_y.device, style_y.dtype)
    mu_s = style_y.mean(dim=dims, keepdim=True)
    sd_s = style_y.std(dim=dims, keepdim=True, correction=0)
    mu_c = content_y.mean(dim=cdims, keepdim=True)
    sd_c = content_y.std(dim=cdims, keepdim=True, correction=0)
    ratio = torch.where(sd_s > eps, sd_c / sd_s.clamp_min(eps), torch.zeros_like(sd_s))
    out = (style_y - mu_s) * ratio + mu_c
    return out.clamp(0.0, 1.0)


def _sqrtm(m: torch.Tensor, eps: float, inverse: bool = False) -> torch.Tensor:
    """Symmetric (inverse) square root of symmetric positive (semi-)definite matrices."""
    vals, vecs = torch.linalg.eigh(m)
    vals = vals.clamp_min(eps)
    scale = vals.rsqrt() if inverse else vals.sqrt()
    return (vecs * scale.unsqueeze(-2)) @ vecs.transpose(-1, -2)


def _stats(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pixels (B,3,N), mean (B,3,1) and covariance (B,3,3) with eigenvalues floored at eps."""
    flat = x.flatten(2)
    mu = flat.mean(dim=-1, keepdim=True)
    centred = flat - mu
    cov = centred @ centred.transpose(-1, -2) / flat.shape[-1]
    vals, vecs = torch.linalg.eigh(cov)
    cov = (vecs * vals.clamp_min(eps).unsqueeze(-2)) @ vecs.transpose(-1, -2)
    return flat, mu, (cov + cov.transpose(-1, -2)) / 2


def match_color_histogram(
    source: torch.Tensor,
    target: torch.Tensor,
    method: Literal["pca", "chol", "sym"] = "pca",
    eps: float = 1e-5,
) -> torch.Tensor:
    """Recolour ``source`` so its colour mean and covariance match ``target``'s.

    ``x' = A (x - mu_s) + mu_t`` with ``A Σ_s Aᵀ = Σ_t``; ``method`` picks A: "pca" (symmetric
    eigen square roots, Σ_t^½ Σ_s^-½, the paper's Image-Analogies variant), "chol" (Cholesky
    factors) or "sym" (the symmetric Monge-Kantorovich solution). The covariances' eigenvalues
    are floored at ``eps`` so flat images give no NaN. The result is clamped to [0, 1].
    """
    _check_batch(source, "source")
    _check_batch(target, "target")
    if method not in ("pca", "chol", "sym"):
        raise ValueError(f"method must be 'pca', 'chol' or 'sym', got {method!r}")
    work = torch.float32 if source.device.type == "mps" else torch.float64
    flat_s, mu_s, cov_s = _stats(source.to(work), eps)
    _, mu_t, cov_t = _stats(target.to(source.device, work), eps)
    if method == "pca":
        a = _sqrtm(cov_t, eps) @ _sqrtm(cov_s, eps, inverse=True)
    elif method == "chol":
        l_s = torch.linalg.cholesky(cov_s)
        l_t = torch.linalg.cholesky(cov_t)
        a = torch.linalg.solve_triangular(l_s, l_t, upper=False, left=False)
    else:
        half = _sqrtm(cov_s, eps)
        inv_half = _sqrtm(cov_s, eps, inverse=True)
        middle = half @ cov_t @ half
        a = inv_half @ _sqrtm((middle + middle.transpose(-1, -2)) / 2, eps * eps) @ inv_half
    out = a @ (flat_s - mu_s) + mu_t
    out = out.reshape(out.shape[0], *source.shape[1:])
    return out.clamp(0.0, 1.0).to(source.dtype)
