"""Spatial masks for spatial control (Gatys et al. 2017, "Controlling Perceptual Factors in
Neural Style Transfer"): reading mask pictures, parsing their command-line forms, and carrying
them down to the size of every feature map.

A mask is a float tensor (B, 1, H, W) in [0, 1]; white (1) marks where it applies.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from impasto.errors import InvalidImage, InvalidOption
from impasto.image.io import DEFAULT_MAX_PIXELS, ImageSource, open_image

if TYPE_CHECKING:
    import torch

__all__ = [
    "downsample_mask",
    "layer_masks",
    "load_mask",
    "normalise_region_masks",
    "parse_mask_spec",
    "parse_protect_spec",
]

#: Largest spread between the R, G and B values of one pixel (0-255) still read as grey:
#: leaves room for rounding in ICC conversions and JPEG decoding.
_GREY_TOLERANCE = 3

#: Largest relative difference of aspect ratios for which a mask is resized to fit.
_ASPECT_TOLERANCE = 0.01


def _where(source: ImageSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(Path(os.fspath(source)).expanduser())
    if isinstance(source, np.ndarray):
        return "(array)"
    return "(in-memory image)"


def load_mask(
    source: ImageSource,
    *,
    size: tuple[int, int] | None = None,
    name: str = "mask",
    against: str = "content",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> torch.Tensor:
    """Read a greyscale mask picture as float32 (1, 1, H, W) in [0, 1] (white = 1).

    ``source`` is a path, a PIL image or an HxW array (anything :func:`open_image` reads). The
    picture must be greyscale (L, 1, I;16, LA, or RGB with equal channels; alpha is ignored).
    With ``size`` = (h, w), a mask of another size but the same aspect ratio (within 1 %) is
    resized (bilinear, antialiased); any other size raises InvalidImage naming both sizes
    (``against`` names the picture it must match). Problems raise one-line InvalidImage errors.
    """
    import torch
    import torch.nn.functional as F

    where = _where(source)
    img = open_image(source, max_pixels=max_pixels, name=name)
    rgb = np.asarray(img.convert("RGB") if img.mode != "RGB" else img, dtype=np.uint8)
    spread = rgb.max(axis=2).astype(np.int16) - rgb.min(axis=2).astype(np.int16)
    if int(spread.max()) > _GREY_TOLERANCE:
        raise InvalidImage(f"{name} {where} is not greyscale")
    grey = rgb.astype(np.float32).mean(axis=2) / 255.0
    mask = torch.from_numpy(np.ascontiguousarray(grey))[None, None]
    if size is None:
        return mask
    h, w = int(size[0]), int(size[1])
    if h <= 0 or w <= 0:
        raise InvalidOption(f"mask size must be positive, got {h}x{w} (height x width)")
    mh, mw = mask.shape[-2:]
    if (mh, mw) == (h, w):
        return mask
    if abs((mw / mh) / (w / h) - 1.0) > _ASPECT_TOLERANCE:
        raise InvalidImage(f"{name} {where} is {mw}x{mh} but the {against} is {w}x{h}")
    resized = F.interpolate(mask, size=(h, w), mode="bilinear", align_corners=False,
                            antialias=True)
    return resized.clamp_(0.0, 1.0).contiguous()


# ----------------------------------------------------------------------------- command line


def parse_mask_spec(text: str) -> tuple[str, int]:
    """Parse ``MASK.png=N`` (``--mask``): return (path, N) with N the 1-based style number
    (whether that style exists is the request's check).

    The last ``=`` separates the number, so paths containing ``=`` work. Raises InvalidOption.
    """
    path, sep, number = text.rpartition("=")
    if not sep or not path.strip():
        raise InvalidOption(
            f"--mask {text}: expected MASK=N, where N is the number of a style image (from 1)"
        )
    try:
        index = int(number.strip())
    except ValueError:
        raise InvalidOption(
            f"--mask {text}: {number!r} is not a style image number (an integer from 1)"
        ) from None
    return path, index


def _check_weight(value: float, text: str) -> float:
    if not (math.isfinite(value) and value > 0):
        raise InvalidOption(f"--protect {text}: the weight must be a finite number above 0")
    return float(value)


#: Content-weight multiplier of a protect mask (and of face protection) when none is given.
DEFAULT_PROTECT_WEIGHT = 10.0


def parse_protect_spec(text: str, default_weight: float) -> tuple[str, float]:
    """Parse ``MASK.png[=WEIGHT]`` (``--protect``): return (path, weight).

    Without ``=WEIGHT`` the weight is ``default_weight``. A path that itself contains ``=`` is
    taken whole when what follows the last ``=`` is not a number and the file exists.
    The weight must be finite and above 0. Raises InvalidOption.
    """
    path, sep, number = text.rpartition("=")
    if not sep:
        path = text
        weight = _check_weight(default_weight, text)
    else:
        try:
            weight = _check_weight(float(number), text)
        except ValueError:
            if not Path(text).expanduser().exists():
                raise InvalidOption(
                    f"--protect {text}: the weight {number!r} is not a number"
                ) from None
            path, weight = text, _check_weight(default_weight, text)
    if not path.strip():
        raise InvalidOption(f"--protect {text}: expected MASK or MASK=WEIGHT")
    return path, weight


# ------------------------------------------------------------------------------- resampling


def _halvings(src: tuple[int, int], dst: tuple[int, int]) -> int | None:
    """How many 2x2 ceil-mode poolings take ``src`` to ``dst``, if some number does."""
    h, w = src
    steps = 0
    while (h, w) != dst:
        if h == 1 and w == 1:
            return None
        h, w = -(-h // 2), -(-w // 2)
        steps += 1
        if h < dst[0] or w < dst[1]:
            return None
    return steps


def downsample_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Area-average a (B, 1, H, W) mask to a feature map's (h, w).

    Where (h, w) is what VGG's 2x2 ceil-mode pooling makes of (H, W), the mask is pooled the
    same way (each value covers exactly the pixels its feature sees); otherwise it is adaptively
    average-pooled. Both keep the mean when the sizes divide evenly.
    """
    import torch.nn.functional as F

    if mask.dim() != 4:
        raise ValueError(f"expected a (B, 1, H, W) mask, got shape {tuple(mask.shape)}")
    dst = (int(size[0]), int(size[1]))
    src = (int(mask.shape[-2]), int(mask.shape[-1]))
    if src == dst:
        return mask
    steps = _halvings(src, dst)
    if steps is None:
        return F.adaptive_avg_pool2d(mask, dst)
    out = mask
    for _ in range(steps):
        out = F.avg_pool2d(out, 2, ceil_mode=True)
    return out


def layer_masks(
    mask: torch.Tensor, layer_sizes: dict[str, tuple[int, int]]
) -> dict[str, torch.Tensor]:
    """``{layer: mask downsampled to that layer's (h, w)}``; layers of one size share a tensor."""
    by_size: dict[tuple[int, int], torch.Tensor] = {}
    out: dict[str, torch.Tensor] = {}
    for layer, size in layer_sizes.items():
        key = (int(size[0]), int(size[1]))
        if key not in by_size:
            by_size[key] = downsample_mask(mask, key)
        out[layer] = by_size[key]
    return out


def normalise_region_masks(masks: list[torch.Tensor]) -> list[torch.Tensor]:
    """Scale overlapping region masks so that at every pixel they sum to at most 1.

    Pixels where the masks sum to 1 or less are unchanged; elsewhere each mask is divided by
    the sum, so overlapping regions share the pixel in proportion.
    """
    import torch

    if not masks:
        return []
    shape = masks[0].shape
    for m in masks[1:]:
        if m.shape != shape:
            raise ValueError(f"region masks differ in shape: {tuple(shape)} and {tuple(m.shape)}")
    total = torch.stack(masks).sum(dim=0)
    scale = 1.0 / total.clamp_min(1.0)
    return [m * scale for m in masks]
