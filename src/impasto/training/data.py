"""Training pictures: a folder of photos, served as batches of random square crops.

The order and the crops are a pure function of (seed, step), so a resumed run sees exactly the
batches an uninterrupted one would have.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from impasto.errors import InvalidImage, InvalidOption
from impasto.image.io import PICTURE_SUFFIXES

EXTENSIONS = PICTURE_SUFFIXES


def list_images(folder: str | Path) -> list[Path]:
    """Picture files under ``folder`` (recursively), sorted by path."""
    root = Path(folder)
    if not root.is_dir():
        raise InvalidOption(f"training data folder not found: {root}")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())
    if not files:
        raise InvalidOption(f"no pictures ({', '.join(sorted(EXTENSIONS))}) under {root}")
    return files


def load_rgb(path: Path, short_side: int) -> Image.Image:
    """Open a picture as RGB with its short side resized to ``short_side`` (if larger)."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise InvalidImage(f"cannot read training picture {path}: {exc}") from None
    scale = short_side / min(im.size)
    if scale < 1.0 or min(im.size) < short_side:
        size = (max(short_side, round(im.width * scale)), max(short_side, round(im.height * scale)))
        im = im.resize(size, Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC)
    return im


class CropBatches:
    """Batches of ``batch`` random ``size`` x ``size`` crops (with random horizontal flips) from
    ``files``; an epoch visits every file once in a seeded random order."""

    #: Decoded, resized pictures kept in memory (about 0.2 MB each at 256 px): decoding and
    #: resizing a large JPEG costs more than a shallow decoder's whole step.
    CACHE = 4096

    def __init__(self, files: list[Path], *, size: int, batch: int, seed: int) -> None:
        if not files:
            raise InvalidOption("no training pictures left after the held-out ones")
        self.files, self.size, self.batch, self.seed = files, size, batch, seed
        self._cache: dict[int, Image.Image] = {}

    def picture(self, index: int) -> Image.Image:
        """File ``index``, decoded and resized (cached)."""
        im = self._cache.get(index)
        if im is None:
            im = load_rgb(self.files[index], self.size)
            if len(self._cache) < self.CACHE:
                self._cache[index] = im
        return im

    def _order(self, epoch: int) -> list[int]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.files), generator=g).tolist()

    def indices(self, step: int) -> list[int]:
        """File indices of batch ``step`` (0-based)."""
        out = []
        for k in range(step * self.batch, (step + 1) * self.batch):
            epoch, pos = divmod(k, len(self.files))
            out.append(self._order(epoch)[pos])
        return out

    def batch_at(self, step: int) -> torch.Tensor:
        """Batch ``step`` as a (batch, 3, size, size) float tensor in [0, 1]."""
        g = np.random.default_rng([self.seed, step])
        crops = []
        for index in self.indices(step):
            im = self.picture(index)
            x0 = int(g.integers(0, im.width - self.size + 1))
            y0 = int(g.integers(0, im.height - self.size + 1))
            crop = np.asarray(im.crop((x0, y0, x0 + self.size, y0 + self.size)), np.float32)
            if g.random() < 0.5:
                crop = crop[:, ::-1]
            crops.append(torch.from_numpy(crop.copy()).permute(2, 0, 1) / 255.0)
        return torch.stack(crops)
