"""Reading a request's pictures once, for every method: pixels, alpha and provenance.

A picture is read into a numpy array (PyTorch is not needed to read, size or write one); a
method that computes in PyTorch takes it as a tensor (the same memory)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from impasto.errors import AnimatedPictureWarning, InvalidOption
from impasto.image.io import (
    ImageSource,
    frame_count,
    open_image,
    rgb8_array,
    split_alpha,
    to_array,
)
from impasto.image.resize import MIN_SIDE, fit_long_side, resize_array
from impasto.provenance import source_record
from impasto.styles.library import BuiltinStyle

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Picture:
    """A picture read for a run: (1, 3, H, W) float32 in [0, 1] on the CPU (an array, or a
    tensor), its alpha channel (or None) and its provenance record (name, SHA-256). A built-in
    style's pixels are decoded only when a method asks for them (its prepared statistics need
    none)."""

    pixels: np.ndarray | torch.Tensor | Callable[[], np.ndarray]
    alpha: Image.Image | None
    record: dict[str, Any]
    shape: tuple[int, int] | None = None  # (H, W), known without the pixels

    @cached_property
    def _made(self) -> np.ndarray | torch.Tensor:
        return self.pixels() if callable(self.pixels) else self.pixels

    @cached_property
    def array(self) -> np.ndarray:
        made = self._made
        return made if isinstance(made, np.ndarray) else made.detach().cpu().float().numpy()

    @cached_property
    def tensor(self) -> torch.Tensor:
        import torch

        return torch.as_tensor(self._made)

    @property
    def size(self) -> tuple[int, int]:
        if self.shape is not None:
            return self.shape
        return int(self._made.shape[-2]), int(self._made.shape[-1])


def read_picture(source: ImageSource | BuiltinStyle | Picture, name: str, max_pixels: int
                 ) -> Picture:
    """A picture of a request (a built-in style's record goes into its provenance); a
    :class:`Picture` already read (a batch reads the next one while this one renders) is used
    as it is."""
    if isinstance(source, Picture):
        return source
    if isinstance(source, BuiltinStyle):
        style = source

        def decode() -> np.ndarray:
            return to_array(split_alpha(open_image(style.path, max_pixels=max_pixels,
                                                    name=name))[0])

        width, height = style.size
        return Picture(decode, None, {"name": style.file, "sha256": style.sha256,
                                      "builtin": style.record()}, shape=(height, width))
    if isinstance(source, np.ndarray):
        frame = rgb8_array(source, max_pixels, name)
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
    return Picture(to_array(rgb), alpha, source_record(source, rgb))


def fit_size(x: np.ndarray, size: int | None, max_pixels: int) -> np.ndarray:
    """``x`` at long side ``size`` (None: as it is), refused before any pixel is made when the
    result would be over ``max_pixels``."""
    if size is None:
        return x
    h, w = fit_long_side(x.shape[-2], x.shape[-1], size)
    if h * w > max_pixels:
        raise InvalidOption(f"size {size} makes {w}x{h}, over the limit of {max_pixels} pixels "
                            "(max-pixels)")
    return resize_array(x, (h, w))


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
    return Picture(fit_size(picture.array, size, max_pixels), picture.alpha, picture.record)


def read_masks(masks: tuple[tuple[Any, int], ...], size: tuple[int, int], max_pixels: int
               ) -> tuple[list[tuple[torch.Tensor, int]], list[dict[str, Any]]]:
    """Region masks at ``size``: (mask (1, 1, H, W), 0-based style index) and their records."""
    from impasto.image.masks import load_mask

    regions, records = [], []
    for source, number in masks:
        regions.append((load_mask(source, size=size, name=f"mask for style {number}",
                                  max_pixels=max_pixels), number - 1))
        records.append({"name": mask_name(source), "style": number})
    return regions, records


def mask_name(source: Any) -> str:
    return (Path(source).name if isinstance(source, str | os.PathLike)
            else f"<{type(source).__name__}>")
