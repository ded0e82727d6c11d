"""Sizes and resizing of pictures and masks (layer 0: pixels only), as numpy arrays (a
picture's first sizing, and a network run in onnxruntime, need no PyTorch) or tensors."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch

#: The shortest side a picture is painted at: VGG-19 pools four times before its deepest
#: style layer (relu5_1), which then still sees one position; a thinner picture is a strip.
MIN_SIDE = 16


def fit_long_side(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(h, w) with the given long side and the same aspect ratio (each side at least 1)."""
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def smallest_long_side(height: int, width: int, min_side: int = MIN_SIDE) -> int:
    """The smallest long side at which :func:`fit_long_side` keeps both sides at least
    ``min_side``."""
    long, short = max(height, width), min(height, width)
    side = max(min_side, math.ceil((min_side - 0.5) * long / short))
    while min(fit_long_side(height, width, side)) < min_side:
        side += 1
    while side > min_side and min(fit_long_side(height, width, side - 1)) >= min_side:
        side -= 1
    return side


def resize(image: torch.Tensor, size: tuple[int, int], *, wrap: str = "none") -> torch.Tensor:
    """Antialiased bicubic resize of a (B, C, H, W) tensor in [0, 1].

    With ``wrap`` the picture is treated as periodic (``both`` axes, or ``x`` only): it is
    resized as the middle of a 3-wide repetition, so the filter sees across the wrap edge.
    """
    import torch.nn.functional as F

    if tuple(image.shape[-2:]) == size:
        return image
    h, w = size
    reps_y = 3 if wrap == "both" else 1
    reps_x = 3 if wrap in ("both", "x") else 1
    if reps_y > 1 or reps_x > 1:
        tiled = image.repeat(1, 1, reps_y, reps_x)
        out = F.interpolate(tiled, size=(h * reps_y, w * reps_x), mode="bicubic",
                            align_corners=False, antialias=True)
        top, left = (h if reps_y > 1 else 0), (w if reps_x > 1 else 0)
        out = out[..., top:top + h, left:left + w]
    else:
        out = F.interpolate(image, size=size, mode="bicubic", align_corners=False,
                            antialias=True)
    return out.clamp(0.0, 1.0)


def resize_array(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Antialiased bicubic resize of a (1, 3, H, W) float32 array in [0, 1], channel by
    channel in float (PIL's filter, which :func:`resize`'s matches: the two agree to within
    2e-5)."""
    if tuple(image.shape[-2:]) == size:
        return image
    h, w = size
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(c, dtype=np.float32))
                           .resize((w, h), Image.Resampling.BICUBIC))
                for c in image[0]]
    return np.clip(np.stack(channels)[None], 0.0, 1.0)


def resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    import torch.nn.functional as F

    if tuple(mask.shape[-2:]) == size:
        return mask
    return F.interpolate(mask, size=size, mode="bilinear", align_corners=False,
                         antialias=True).clamp(0.0, 1.0)


def pad_to(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad (B, C, H, W) on the bottom and right to multiples of ``multiple``, and to at least
    two of them (a network's deepest features need more than one position): reflected where
    the picture is large enough, else replicated."""
    import torch.nn.functional as F

    h, w = int(x.shape[-2]), int(x.shape[-1])
    ph, pw, reflect = _padding(h, w, multiple)
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="reflect" if reflect else "replicate")
    return x, (h, w)


def pad_array(x: np.ndarray, multiple: int) -> tuple[np.ndarray, tuple[int, int]]:
    """:func:`pad_to` of a (B, C, H, W) array."""
    h, w = int(x.shape[-2]), int(x.shape[-1])
    ph, pw, reflect = _padding(h, w, multiple)
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="reflect" if reflect else "edge")
    return x, (h, w)


def _padding(h: int, w: int, multiple: int) -> tuple[int, int, bool]:
    """Rows and columns to add to an (h, w) picture, and whether they can be reflected."""
    th = max(-(-h // multiple) * multiple, 2 * multiple)
    tw = max(-(-w // multiple) * multiple, 2 * multiple)
    ph, pw = th - h, tw - w
    return ph, pw, ph < h and pw < w
