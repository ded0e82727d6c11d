"""Tiled optimisation for outputs larger than memory (print sizes).

The loss is the same as :class:`~impasto.optim.objective.TransferObjective`'s with the Gram style
loss: the content term and the style term are computed over the whole picture, but VGG-19 only
ever sees one tile (plus a margin of context) at a time.

Each evaluation makes two passes over the tiles:

1. without gradients, every tile's core features add up to the global Gram matrix of each style
   layer (the Gram matrix of the whole picture is the position-weighted mean of its parts);
2. with gradients, each tile's share of the global loss is backpropagated: for the style term the
   surrogate ``<dL/dG, G_tile> * n_tile / n`` has exactly the gradient of the global Gram loss
   with respect to the tile's features, for the content term the tile's squared error against
   the stored content features. The whole tile's pixel gradient (core and margin) is added into
   the picture's gradient, so contributions that cross tile borders are kept.

The only approximation is that features near a tile's outer edge see padding instead of their
neighbours; the margin keeps that away from the core, and the tile grid moves by a random offset
every evaluation, so no border stays in one place (no visible grid). Style and content targets
are computed once per scale, tile by tile, for the whole style and content pictures.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch

from impasto.features.vgg import LAYER_NAMES, VGG19
from impasto.losses import functional as LF
from impasto.optim.precision import autocast

#: Tile cores, margins and grid offsets are multiples of this: the stride of relu5_1, so every
#: feature map crops cleanly.
ALIGN = 16
#: Context around each tile's core.
DEFAULT_MARGIN = 64
#: Smallest tile core worth running.
MIN_TILE = 128
#: Bytes per pixel of one forward and backward pass through VGG-19 to relu5_1 (measured:
#: about 1.7 KB in bf16 and 3.3 KB in fp32 at 512-1024 px, benchmarks/memory.py; rounded up).
BYTES_PER_PIXEL = {"bf16": 2048, "fp16": 2048, "fp32": 4096}
#: Bytes per pixel of the whole-picture buffers of a tiled scale besides the optimiser's
#: history: the picture, its gradient, the last good copy, two L-BFGS work vectors, the
#: content picture (float32 RGB each), and the content features (relu4_2: 512 channels at
#: 1/64 of the pixels, bf16).
FIXED_BYTES_PER_PIXEL = 3 * 4 * 6 + 512 * 2 // 64
#: Share of the budget given to the L-BFGS history at tiled scales.
HISTORY_SHARE = 0.25
#: L-BFGS history bounds at tiled scales.
MIN_HISTORY, MAX_HISTORY = 3, 50


def stride_of(layer: str) -> int:
    """Downsampling factor of a layer's feature map (1 for block 1 ... 16 for block 5)."""
    pools_before = sum(1 for n in LAYER_NAMES[: LAYER_NAMES.index(layer)] if n.startswith("pool"))
    return 2**pools_before


@dataclass(frozen=True)
class TilePlan:
    """Core size (square) and margin of the tiles, in pixels."""

    core: int
    margin: int = DEFAULT_MARGIN

    def needed(self, height: int, width: int) -> bool:
        return height > self.core or width > self.core


def history_size(height: int, width: int, budget_bytes: int) -> int:
    """L-BFGS history that fits :data:`HISTORY_SHARE` of the budget (two vectors an entry)."""
    per_entry = 2 * height * width * 3 * 4
    return max(MIN_HISTORY, min(MAX_HISTORY, int(budget_bytes * HISTORY_SHARE) // per_entry))


def plan_tiles(height: int, width: int, budget_bytes: int, precision: str,
               margin: int = DEFAULT_MARGIN) -> TilePlan | None:
    """The tiles that keep a step of an (height x width) picture within ``budget_bytes``;
    None when the whole picture fits in one piece."""
    per_pixel = BYTES_PER_PIXEL.get(precision, BYTES_PER_PIXEL["fp32"])
    pixels = height * width
    history = history_size(height, width, budget_bytes) * 2 * pixels * 3 * 4
    fixed = pixels * FIXED_BYTES_PER_PIXEL + history
    if pixels * per_pixel + fixed <= budget_bytes:
        return None
    side = int(math.sqrt(max(budget_bytes - fixed, 0) / per_pixel)) - 2 * margin
    core = max(MIN_TILE, side // ALIGN * ALIGN)
    return TilePlan(core=core, margin=margin)


@dataclass(frozen=True)
class Tile:
    """A core region [y0, y1) x [x0, x1) and the input region around it, in pixels."""

    y0: int
    y1: int
    x0: int
    x1: int
    in_y0: int
    in_y1: int
    in_x0: int
    in_x1: int

    def feature_core(self, stride: int) -> tuple[slice, slice]:
        """Where the core lies in the feature map of the input region at ``stride``."""
        return (slice((self.y0 - self.in_y0) // stride, (self.y1 - self.in_y0) // stride),
                slice((self.x0 - self.in_x0) // stride, (self.x1 - self.in_x0) // stride))


def cut_positions(length: int, core: int, phase: float) -> list[int]:
    """Cut positions (multiples of ALIGN) splitting ``length`` into pieces of at most ``core``.

    The pieces are ``length / n`` long with ``n = ceil(1.5 * length / core)``, shifted by
    ``phase`` (in [0, 1)) of a piece; a first or last piece shorter than half a piece joins its
    neighbour, so no piece is a sliver (slivers waste work on their margins) and none exceeds
    1.5 pieces, which is at most ``core``.
    """
    if length <= core:
        return [0, length]
    n = math.ceil(1.5 * length / core)
    piece = length / n
    inner = [phase * piece + k * piece for k in range(n + 1)]
    cuts = sorted({round(c / ALIGN) * ALIGN for c in inner if 0 < c < length})
    if cuts and cuts[0] < piece / 2:
        cuts = cuts[1:]
    if cuts and length - cuts[-1] < piece / 2:
        cuts = cuts[:-1]
    return [0, *cuts, length]


def tiles(height: int, width: int, plan: TilePlan, phase: tuple[float, float] = (0.0, 0.0)
          ) -> Iterator[Tile]:
    """Cover an (height x width) picture (multiples of ALIGN) with tiles on a grid shifted by
    ``phase`` (fractions of a tile, per axis); cores partition the picture, inputs add the
    margin within the picture."""
    ys, xs = cut_positions(height, plan.core, phase[0]), cut_positions(width, plan.core, phase[1])
    m = plan.margin
    for y0, y1 in itertools.pairwise(ys):
        for x0, x1 in itertools.pairwise(xs):
            yield Tile(y0, y1, x0, x1, max(0, y0 - m), min(height, y1 + m),
                       max(0, x0 - m), min(width, x1 + m))


def _features(vgg: VGG19, image: torch.Tensor, precision: str) -> dict[str, torch.Tensor]:
    with autocast(precision, image.device):
        return vgg(image)


@torch.no_grad()
def tiled_grams(vgg: VGG19, image: torch.Tensor, layers: Sequence[str], plan: TilePlan,
                precision: str, phase: tuple[float, float] = (0.0, 0.0)
                ) -> dict[str, torch.Tensor]:
    """Gram matrices of a whole picture, computed tile by tile (exact up to tile borders)."""
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = dict.fromkeys(layers, 0)
    h, w = image.shape[-2:]
    for tile in tiles(h, w, plan, phase):
        feats = _features(vgg, image[..., tile.in_y0:tile.in_y1, tile.in_x0:tile.in_x1],
                          precision)
        for n in layers:
            ys, xs = tile.feature_core(stride_of(n))
            core = feats[n][..., ys, xs]
            g = LF.gram(core) * (core.shape[-2] * core.shape[-1])
            sums[n] = g if n not in sums else sums[n] + g
            counts[n] += core.shape[-2] * core.shape[-1]
    return {n: sums[n] / max(counts[n], 1) for n in layers}


@torch.no_grad()
def tiled_features(vgg: VGG19, image: torch.Tensor, layers: Sequence[str], plan: TilePlan,
                   precision: str) -> dict[str, torch.Tensor]:
    """Feature maps of a whole picture assembled from tile cores (kept in their compute dtype)."""
    h, w = image.shape[-2:]
    out: dict[str, torch.Tensor] = {}
    for tile in tiles(h, w, plan):
        feats = _features(vgg, image[..., tile.in_y0:tile.in_y1, tile.in_x0:tile.in_x1],
                          precision)
        for n in layers:
            s = stride_of(n)
            ys, xs = tile.feature_core(s)
            core = feats[n][..., ys, xs]
            if n not in out:
                out[n] = core.new_zeros((*core.shape[:2], h // s, w // s))
            out[n][..., tile.y0 // s:tile.y1 // s, tile.x0 // s:tile.x1 // s] = core
    return out


class TiledObjective:
    """The Gram-style transfer loss of a large picture, evaluated tile by tile.

    ``evaluate(x)`` returns (loss, gradient, parts) for the engine; the tile grid moves by a
    random phase at every call (drawn from ``generator``).
    """

    def __init__(
        self,
        vgg: VGG19,
        *,
        content: torch.Tensor | None,
        style_grams: Mapping[str, torch.Tensor],
        content_layers: Sequence[str],
        style_layers: Sequence[str],
        style_layer_weights: Sequence[float] | None,
        content_weight: float,
        style_weight: float,
        tv_weight: float,
        plan: TilePlan,
        precision: str,
        generator: torch.Generator,
    ) -> None:
        self.vgg = vgg
        self.plan = plan
        self.precision = precision
        self.generator = generator
        self.style_layers = tuple(style_layers)
        self.content_layers = tuple(content_layers)
        weights = style_layer_weights or [1.0] * len(self.style_layers)
        total = sum(weights) or 1.0
        self.layer_weights = {n: w / total for n, w in zip(self.style_layers, weights,
                                                           strict=True)}
        self.targets = {n: style_grams[n].float() for n in self.style_layers}
        self.target_energy = {n: float(g.pow(2).sum().clamp_min(1e-8))
                              for n, g in self.targets.items()}
        self.content_weight = float(content_weight)
        self.style_weight = float(style_weight)
        self.tv_weight = float(tv_weight)
        self.content_feats: dict[str, torch.Tensor] = {}
        self.content_energy: dict[str, float] = {}
        if content is not None and self.content_weight > 0:
            self.content_feats = tiled_features(vgg, content, self.content_layers, plan,
                                                precision)
            self.content_energy = {n: float(f.float().pow(2).sum().clamp_min(1e-8))
                                   for n, f in self.content_feats.items()}

    def _phase(self) -> tuple[float, float]:
        py, px = torch.rand(2, generator=self.generator).tolist()
        return py, px

    def evaluate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor,
                                                 dict[str, float]]:
        phase = self._phase()
        h, w = x.shape[-2:]
        parts: dict[str, float] = {}
        # Pass 1: global Gram matrices of the current picture, and dL/dG for each layer.
        grams = tiled_grams(self.vgg, x, self.style_layers, self.plan, self.precision, phase)
        counts = {n: (h // stride_of(n)) * (w // stride_of(n)) for n in self.style_layers}
        style_value = 0.0
        d_gram: dict[str, torch.Tensor] = {}
        for n in self.style_layers:
            diff = grams[n] - self.targets[n]
            style_value += self.layer_weights[n] * float(diff.pow(2).sum()) / self.target_energy[n]
            d_gram[n] = (2.0 * self.style_weight * self.layer_weights[n]
                         / self.target_energy[n]) * diff
        parts["style"] = style_value
        total = self.style_weight * style_value
        # Pass 2: backpropagate each tile's share of the global loss.
        grad = torch.zeros_like(x)
        content_value = 0.0
        for tile in tiles(h, w, self.plan, phase):
            piece = x[..., tile.in_y0:tile.in_y1, tile.in_x0:tile.in_x1].clone()
            piece.requires_grad_(True)
            feats = _features(self.vgg, piece, self.precision)
            surrogate = piece.new_zeros((), dtype=torch.float32)
            for n in self.style_layers:
                ys, xs = tile.feature_core(stride_of(n))
                core = feats[n][..., ys, xs]
                positions = core.shape[-2] * core.shape[-1]
                surrogate = surrogate + (d_gram[n] * LF.gram(core)).sum() * (
                    positions / counts[n])
            for n, target in self.content_feats.items():
                s = stride_of(n)
                ys, xs = tile.feature_core(s)
                core = feats[n][..., ys, xs].float()
                ref = target[..., tile.y0 // s:tile.y1 // s, tile.x0 // s:tile.x1 // s].float()
                err = (core - ref).pow(2).sum() / (self.content_energy[n]
                                                   * len(self.content_feats))
                content_value += float(err.detach())
                surrogate = surrogate + self.content_weight * err
            surrogate.backward()
            assert piece.grad is not None
            grad[..., tile.in_y0:tile.in_y1, tile.in_x0:tile.in_x1] += piece.grad
        if self.content_feats:
            parts["content"] = content_value
            total += self.content_weight * content_value
        if self.tv_weight > 0:
            image = x.detach().requires_grad_(True)
            tv = LF.tv_loss(image)
            (self.tv_weight * tv).backward()
            assert image.grad is not None
            grad += image.grad
            parts["tv"] = float(tv.detach())
            total += self.tv_weight * parts["tv"]
        return torch.tensor(total, dtype=torch.float32, device=x.device), grad, parts
