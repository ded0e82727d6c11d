"""Tiled optimisation for outputs larger than memory (print sizes).

The loss is :class:`~impasto.optim.objective.TransferObjective`'s with the Gram style loss,
over the whole picture: the style term compares the Gram matrices of the *whole* picture with
the style's, the content term and TV sum over the whole picture. VGG-19 only ever sees one tile
(its core plus a margin of context) at a time, and only the picture itself (and the content
picture, in 8 bits) is kept whole, so memory does not grow with the output beyond those
15 bytes a pixel.

The optimisation is block-coordinate descent on that global loss (:class:`TiledTransfer`).
A *sweep* visits every tile once, in random order, and runs a few L-BFGS steps on the tile's
core pixels with the margin held fixed. The style term of a tile is the global one,

    L_style(core) = sum_l w_l |G_l + a_t (G_l,t(core) - G_l,t(start)) - T_l|^2 / |T_l|^2,

where ``G_l`` is the whole picture's Gram matrix (computed tile by tile when the scale starts,
then kept current as tiles change), ``G_l,t`` the tile core's own Gram matrix and ``a_t`` the
core's share of the layer's positions; so every tile steers towards the global statistics,
not its own. The content term is the tile's share of the global content loss, against content
features computed for the tile when it is visited. The tile grid moves by a random phase at
every sweep, so no border stays in one place (no visible grid). Style targets are computed
once per scale, tile by tile, for the whole style picture.

How large the tiles are and where they lie (planning within a memory budget, the moving grid)
is :mod:`impasto.optim.tiles`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch

from impasto.errors import Diverged
from impasto.events import CancelToken
from impasto.features.vgg import VGG19
from impasto.losses import functional as LF
from impasto.optim.objective import protect_map
from impasto.optim.tiles import INNER_STEPS, Tile, TilePlan, quantise, stride_of, tiles
from impasto.runtime.precision import autocast

#: Sweeps between recomputations of the whole picture's Gram matrices from scratch (in between
#: they are updated tile by tile).
REFRESH_EVERY = 4
#: Tile visits in a row whose loss is not finite before the run counts as diverged.
MAX_BAD_TILES = 3


def _as_float(image: torch.Tensor) -> torch.Tensor:
    if image.dtype == torch.uint8:
        return image.float().div_(255.0)
    return image.float()


def _features(vgg: VGG19, image: torch.Tensor, precision: str) -> dict[str, torch.Tensor]:
    with autocast(precision, image.device):
        return vgg(_as_float(image))


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
def tiled_content_energy(vgg: VGG19, image: torch.Tensor, layers: Sequence[str], plan: TilePlan,
                         precision: str) -> dict[str, float]:
    """``sum(F_l^2)`` over the whole picture for each layer, computed tile by tile."""
    h, w = image.shape[-2:]
    energy = dict.fromkeys(layers, 0.0)
    for tile in tiles(h, w, plan):
        feats = _features(vgg, image[..., tile.in_y0:tile.in_y1, tile.in_x0:tile.in_x1],
                          precision)
        for n in layers:
            ys, xs = tile.feature_core(stride_of(n))
            energy[n] += float(feats[n][..., ys, xs].float().pow(2).sum())
    return {n: max(e, 1e-8) for n, e in energy.items()}


#: Called after each tile visit with (fraction of the scale done, loss, parts, picture).
TileHook = Callable[[float, float, dict[str, float], torch.Tensor], None]


class TiledTransfer:
    """Block-coordinate optimisation of the Gram-style transfer loss of a large picture.

    ``run(x, steps)`` optimises ``x`` (1, 3, H, W) in place, tile by tile: ``steps`` counts steps
    of the whole picture, so a run of n steps makes about n / :data:`INNER_STEPS` sweeps, each
    running :data:`INNER_STEPS` L-BFGS steps on every tile.
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
        protect: Sequence[tuple[torch.Tensor, float]] = (),
        inner_steps: int = INNER_STEPS,
    ) -> None:
        self.vgg = vgg
        self.plan = plan
        self.precision = precision
        self.generator = generator
        self.inner_steps = max(1, int(inner_steps))
        self.style_layers = tuple(style_layers)
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
        self.content: torch.Tensor | None = None
        self.content_layers: tuple[str, ...] = ()
        self.content_energy: dict[str, float] = {}
        self.protect_maps: dict[str, torch.Tensor] = {}
        if content is not None and self.content_weight > 0:
            self.content_layers = tuple(content_layers)
            self.content = content if content.dtype == torch.uint8 else quantise(content)
            self.content_energy = tiled_content_energy(vgg, self.content, self.content_layers,
                                                       plan, precision)
            h, w = content.shape[-2:]
            for n in self.content_layers:
                s = stride_of(n)
                size = (math.ceil(h / s), math.ceil(w / s))
                found = protect_map(protect, size)
                if found is not None:
                    self.protect_maps[n] = found
        self.grams: dict[str, torch.Tensor] = {}
        self.parts: dict[str, float] = {}
        #: L-BFGS's initial inverse-Hessian scale, carried from visit to visit (None: not yet
        #: known), so that a visit's first step is as long as the last visit's steps were.
        self.gamma: float | None = None

    # ------------------------------------------------------------------------------ the loss
    def tile_loss(self, piece: torch.Tensor, tile: Tile, picture_size: tuple[int, int],
                  start: dict[str, torch.Tensor], content_refs: dict[str, torch.Tensor]
                  ) -> tuple[torch.Tensor, dict[str, float], dict[str, torch.Tensor]]:
        """The global loss as a function of one tile's input ``piece`` (core and margin).

        ``start`` holds the core's Gram matrices when the visit began (filled on the first
        call); returns (loss, parts, the core's Gram matrices now).
        """
        h, w = picture_size
        feats = _features(self.vgg, piece, self.precision)
        loss = piece.new_zeros((), dtype=torch.float32)
        style = piece.new_zeros((), dtype=torch.float32)
        now: dict[str, torch.Tensor] = {}
        for n in self.style_layers:
            s = stride_of(n)
            ys, xs = tile.feature_core(s)
            core = feats[n][..., ys, xs]
            share = core.shape[-2] * core.shape[-1] / ((h // s) * (w // s))
            g = LF.gram(core).float()
            now[n] = g.detach()
            if n not in start:
                start[n] = now[n]
            diff = self.grams[n] + share * (g - start[n]) - self.targets[n]
            style = style + self.layer_weights[n] * diff.pow(2).sum() / self.target_energy[n]
        loss = loss + self.style_weight * style
        parts = {"style": float(style.detach())}
        if content_refs:
            content = piece.new_zeros((), dtype=torch.float32)
            for n, ref in content_refs.items():
                s = stride_of(n)
                ys, xs = tile.feature_core(s)
                err = (feats[n][..., ys, xs].float() - ref).pow(2)
                weights = self.protect_maps.get(n)
                if weights is not None:
                    err = err * weights[..., tile.y0 // s:tile.y1 // s,
                                        tile.x0 // s:tile.x1 // s]
                content = content + err.sum() / (self.content_energy[n] * len(content_refs))
            loss = loss + self.content_weight * content
            parts["content"] = float(content.detach())
        if self.tv_weight > 0:
            tv = _tv_share(piece, tile, h, w)
            loss = loss + self.tv_weight * tv
            parts["tv"] = float(tv.detach())
        return loss, parts, now

    @torch.no_grad()
    def _content_refs(self, tile: Tile) -> dict[str, torch.Tensor]:
        if self.content is None:
            return {}
        region = self.content[..., tile.in_y0:tile.in_y1, tile.in_x0:tile.in_x1]
        feats = _features(self.vgg, region, self.precision)
        refs = {}
        for n in self.content_layers:
            ys, xs = tile.feature_core(stride_of(n))
            refs[n] = feats[n][..., ys, xs].float()
        return refs

    # ------------------------------------------------------------------------------- the run
    def refresh(self, x: torch.Tensor, phase: tuple[float, float] = (0.0, 0.0)) -> None:
        """Recompute the whole picture's Gram matrices from scratch."""
        self.grams = {n: g.float() for n, g in tiled_grams(
            self.vgg, x, self.style_layers, self.plan, self.precision, phase).items()}

    def visit(self, x: torch.Tensor, tile: Tile) -> bool:
        """Run the inner L-BFGS steps on one tile's core and write it back into ``x``; False
        (and ``x`` unchanged) when the loss stopped being finite."""
        h, w = x.shape[-2:]
        cy = slice(tile.y0 - tile.in_y0, tile.y1 - tile.in_y0)
        cx = slice(tile.x0 - tile.in_x0, tile.x1 - tile.in_x0)
        context = x[..., tile.in_y0:tile.in_y1, tile.in_x0:tile.in_x1].detach().clone()
        core = context[..., cy, cx].clone(memory_format=torch.contiguous_format)
        refs = self._content_refs(tile)
        start: dict[str, torch.Tensor] = {}
        latest: dict[str, torch.Tensor] = {}
        parts: dict[str, float] = {}

        def evaluate(values: torch.Tensor) -> tuple[float, torch.Tensor]:
            nonlocal parts, latest
            values = values.detach().requires_grad_(True)
            piece = context.clone()
            piece[..., cy, cx] = values
            loss, parts, latest = self.tile_loss(piece, tile, (h, w), start, refs)
            if not torch.isfinite(loss):
                return math.inf, values
            loss.backward()
            assert values.grad is not None
            return float(loss.detach()), values.grad.contiguous()

        core, self.gamma = _lbfgs(evaluate, core, self.inner_steps, self.gamma)
        if core is None:
            return False
        with torch.no_grad():
            x[..., tile.y0:tile.y1, tile.x0:tile.x1] = core
            for n in self.style_layers:
                s = stride_of(n)
                share = ((tile.y1 - tile.y0) // s) * ((tile.x1 - tile.x0) // s) / (
                    (h // s) * (w // s))
                # The core's Gram matrices as of the last evaluation (one step stale at most).
                self.grams[n] = self.grams[n] + share * (latest[n] - start[n])
        self.parts = parts
        return True

    def run(self, x: torch.Tensor, steps: int, *, on_visit: TileHook | None = None,
            cancel: CancelToken | None = None) -> torch.Tensor:
        """Optimise ``x`` in place for about ``steps`` whole-picture steps; return it."""
        h, w = x.shape[-2:]
        sweeps = max(1, math.ceil(steps / self.inner_steps))
        self.refresh(x)
        bad = 0
        for sweep in range(sweeps):
            if sweep and sweep % REFRESH_EVERY == 0:
                self.refresh(x)
            py, px = torch.rand(2, generator=self.generator).tolist()
            order = list(tiles(h, w, self.plan, (py, px)))
            perm = torch.randperm(len(order), generator=self.generator).tolist()
            for done, k in enumerate(perm, start=1):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                if self.visit(x, order[k]):
                    bad = 0
                else:
                    bad += 1
                    if bad >= MAX_BAD_TILES:
                        raise Diverged(
                            "the tiled optimisation diverged (the loss stopped being finite on "
                            f"{MAX_BAD_TILES} tiles in a row); try fewer style layers or a "
                            "lower --strength")
                if on_visit is not None:
                    loss = sum(v * self._weight(k2) for k2, v in self.parts.items())
                    on_visit((sweep + done / len(order)) / sweeps, loss, dict(self.parts), x)
        return x

    def _weight(self, part: str) -> float:
        return {"style": self.style_weight, "content": self.content_weight,
                "tv": self.tv_weight}.get(part, 0.0)


def _tv_share(piece: torch.Tensor, tile: Tile, h: int, w: int) -> torch.Tensor:
    """The part of the whole picture's TV loss (:func:`~impasto.losses.functional.tv_loss`) made
    of differences that touch the tile's core."""
    y0 = max(tile.y0 - 1, tile.in_y0) - tile.in_y0
    x0 = max(tile.x0 - 1, tile.in_x0) - tile.in_x0
    y1, x1 = tile.y1 - tile.in_y0, tile.x1 - tile.in_x0
    region = piece[..., y0:y1 + 1, x0:x1 + 1].float()
    dx = region[..., :, 1:] - region[..., :, :-1]
    dy = region[..., 1:, :] - region[..., :-1, :]
    return dx.pow(2).sum() / (3 * h * max(w - 1, 1)) + dy.pow(2).sum() / (3 * max(h - 1, 1) * w)


def _lbfgs(evaluate: Callable[[torch.Tensor], tuple[float, torch.Tensor]], x: torch.Tensor,
           steps: int, gamma: float | None) -> tuple[torch.Tensor | None, float | None]:
    """``steps`` L-BFGS steps of unit length from ``x`` (history ``steps``, no line search,
    like :class:`torch.optim.LBFGS` with ``max_iter=steps``) starting from the inverse-Hessian
    scale ``gamma``; returns (the new values, the last scale), or (None, gamma) when a loss or
    the values stopped being finite."""
    value, grad = evaluate(x)
    if not math.isfinite(value):
        return None, gamma
    history: list[tuple[torch.Tensor, torch.Tensor, float]] = []
    for step in range(steps):
        q = grad.flatten().clone()
        alphas = []
        for s, y, rho in reversed(history):
            a = rho * float(s @ q)
            q.add_(y, alpha=-a)
            alphas.append(a)
        scale = gamma if gamma is not None else min(1.0, 1.0 / float(grad.abs().sum()))
        q.mul_(scale)
        for (s, y, rho), a in zip(history, reversed(alphas), strict=True):
            b = rho * float(y @ q)
            q.add_(s, alpha=a - b)
        direction = q.neg_().view_as(x)
        x = x + direction
        if not bool(torch.isfinite(x).all()):
            return None, gamma
        if step == steps - 1:
            break
        value, new_grad = evaluate(x)
        if not math.isfinite(value):
            return None, gamma
        y = (new_grad - grad).flatten()
        s = direction.flatten()
        ys = float(y @ s)
        if ys > 1e-10:
            history.append((s, y, 1.0 / ys))
            gamma = ys / float(y @ y)
        grad = new_grad
    return x, gamma
