"""Reading a request's pictures once, for every method: tensors, alpha and provenance."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from impasto.errors import AnimatedPictureWarning, InvalidOption
from impasto.image.io import (
    ImageSource,
    frame_count,
    open_image,
    rgb8_tensor,
    split_alpha,
    to_tensor,
)
from impasto.image.masks import load_mask
from impasto.image.resize import MIN_SIDE, fit_long_side, resize
from impasto.provenance import source_record
from impasto.styles.library import BuiltinStyle


@dataclass(frozen=True)
class Picture:
    """A picture read for a run: (1, 3, H, W) float in [0, 1] on the CPU, its alpha channel
    (or None) and its provenance record (name, SHA-256). A built-in style's pixels are decoded
    only when a method asks for them (its prepared statistics need none)."""

    pixels: torch.Tensor | Callable[[], torch.Tensor]
    alpha: Image.Image | None
    record: dict[str, Any]
    shape: tuple[int, int] | None = None  # (H, W), known without the pixels

    @cached_property
    def tensor(self) -> torch.Tensor:
        return self.pixels if isinstance(self.pixels, torch.Tensor) else self.pixels()

    @property
    def size(self) -> tuple[int, int]:
        if self.shape is not None:
            return self.shape
        return int(self.tensor.shape[-2]), int(self.tensor.shape[-1])


def read_picture(source: ImageSource | BuiltinStyle | Picture, name: str, max_pixels: int
                 ) -> Picture:
    """A picture of a request (a built-in style's record goes into its provenance); a
    :class:`Picture` already read (a batch reads the next one while this one renders) is used
    as it is."""
    if isinstance(source, Picture):
        return source
    if isinstance(source, BuiltinStyle):
        style = source

        def decode() -> torch.Tensor:
            return to_tensor(split_alpha(open_image(style.path, max_pixels=max_pixels,
                                                    name=name))[0])

        width, height = style.size
        return Picture(decode, None, {"name": style.file, "sha256": style.sha256,
                                      "builtin": style.record()}, shape=(height, width))
    if isinstance(source, np.ndarray):
        frame = rgb8_tensor(source, max_pixels, name)
        if frame is not None:
            return Picture(frame, None, source_record(source, source))
    image = open_image(source, max_pixels=max_pixels, name=name)
    frames = frame_count(source)
    if frames > 1:
        where = f" {source}" if isinstance(source, str | os.PathLike) else ""
        warnings.warn(AnimatedPictureWarning(
            f"the {name} picture{where} has {frames} frames; used the first (every frame: "
            f"impasto.video.stylize_frames, or impasto video)"), stacklevel=3)
    rgb, alpha = split_alpha(image)
    return Picture(to_tensor(rgb), alpha, source_record(source, rgb))


def fit_size(x: torch.Tensor, size: int | None, max_pixels: int) -> torch.Tensor:
    """``x`` at long side ``size`` (None: as it is), refused before any pixel is made when the
    result would be over ``max_pixels``."""
    if size is None:
        return x
    h, w = fit_long_side(x.shape[-2], x.shape[-1], size)
    if h * w > max_pixels:
        raise InvalidOption(f"size {size} makes {w}x{h}, over the limit of {max_pixels} pixels "
                            "(max-pixels)")
    return resize(x, (h, w))


def fitted(picture: Picture, size: int | None, max_pixels: int) -> Picture:
    """``picture`` at long side ``size`` as :func:`fit_size` makes it (so a method that fits
    its content finds it done: a batch resizes the next content while this one renders); as
    it is when it would come out thinner than a picture can be painted, so the method's own
    check names its real size."""
    if size is None:
        return picture
    h, w = fit_long_side(*picture.size, size)
    if min(h, w) < MIN_SIDE:
        return picture
    return Picture(fit_size(picture.tensor, size, max_pixels), picture.alpha, picture.record)


def read_masks(masks: tuple[tuple[Any, int], ...], size: tuple[int, int], max_pixels: int
               ) -> tuple[list[tuple[torch.Tensor, int]], list[dict[str, Any]]]:
    """Region masks at ``size``: (mask (1, 1, H, W), 0-based style index) and their records."""
    regions, records = [], []
    for source, number in masks:
        regions.append((load_mask(source, size=size, name=f"mask for style {number}",
                                  max_pixels=max_pixels), number - 1))
        records.append({"name": mask_name(source), "style": number})
    return regions, records


def mask_name(source: Any) -> str:
    return (Path(source).name if isinstance(source, str | os.PathLike)
            else f"<{type(source).__name__}>")
