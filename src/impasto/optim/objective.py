"""The transfer objective at one scale: VGG-19 features, content, style, detail and TV terms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from impasto.errors import InvalidOption
from impasto.features.vgg import VGG19
from impasto.image.masks import downsample_mask
from impasto.image.resize import resize
from impasto.losses import families as FAM
from impasto.losses import functional as LF
from impasto.losses.guided import weighted_content_loss
from impasto.losses.style import family
from impasto.runtime.precision import autocast

#: Width of the band along each wrapped edge, as a fraction of that side, over which the
#: content weight ramps from 1 (inside) down to 0 (at the edge) in seamless outputs.
WRAP_BAND = 0.125


@dataclass(frozen=True)
class Region:
    """A region mask (1, 1, H, W) in [0, 1] at the scale's size, and its style (0-based)."""

    mask: torch.Tensor
    style: int


@dataclass(frozen=True)
class TemporalTerm:
    """The short-term temporal loss of one video frame (Ruder et al. 2016):
    ``weight x mean(trust x (x - target)^2)`` over RGB in [0, 1], where ``target``
    (1, 3, H, W) is the previous output frame moved to this one along the optical flow and
    ``trust`` (1, 1, H, W) in [0, 1] says where the flow holds (0 where pixels were occluded
    or the flow is wrong): the picture keeps what the last frame painted wherever it can."""

    target: torch.Tensor
    trust: torch.Tensor
    weight: float

    def __post_init__(self) -> None:
        if not (self.weight >= 0 and self.weight < float("inf")):
            raise InvalidOption(f"temporal loss weight must be >= 0, not {self.weight}")
        if self.target.dim() != 4 or self.target.shape[:2] != (1, 3) or \
                self.trust.shape != (1, 1, *self.target.shape[-2:]):
            raise InvalidOption(f"a temporal term needs a (1, 3, H, W) target and a (1, 1, H, "
                                f"W) trust map, not {tuple(self.target.shape)} and "
                                f"{tuple(self.trust.shape)}")

    def at(self, size: tuple[int, int], device: torch.device | str) -> TemporalTerm:
        """The term for a picture of ``size`` (H, W) on ``device``."""
        target, trust = self.target.to(device), self.trust.to(device)
        if tuple(target.shape[-2:]) != tuple(size):
            target, trust = resize(target, size), resize(trust, size).clamp(0.0, 1.0)
        return TemporalTerm(target, trust, self.weight)

    def loss(self, image: torch.Tensor) -> torch.Tensor:
        return (self.trust * (image.float() - self.target) ** 2).mean()


class TransferObjective(nn.Module):
    """``cw * content + sw * style + detail * Laplacian + tv * TV``, targets fixed at build time.

    Style targets of several style images are blended per layer (``style_mix``: the weight of
    each style image at each layer). Gatys et al. (2016) sum weighted per-style losses; for the
    Gram loss the blended target has the same minimiser up to a constant and costs one
    comparison instead of one per style; for ``meancov`` and ``histogram`` blending the
    statistics is the natural barycentre. With region masks each region is matched to its own
    style through guided statistics (Gatys et al. 2017), and pixels outside every region get no
    style term.
    """

    def __init__(
        self,
        vgg: VGG19,
        *,
        content: torch.Tensor | None,
        styles: Sequence[torch.Tensor | Mapping[str, Any]],
        style_mix: Mapping[str, Sequence[float]],
        content_layers: Sequence[str],
        style_layers: Sequence[str],
        style_layer_weights: Sequence[float] | None,
        content_weight: float,
        style_weight: float,
        tv_weight: float = 0.0,
        detail_weight: float = 0.0,
        style_loss: str = "gram",
        regions: Sequence[Region] = (),
        protect: Sequence[tuple[torch.Tensor, float]] = (),
        wrap: str = "none",
        precision: str = "fp32",
        temporal: TemporalTerm | None = None,
    ) -> None:
        super().__init__()
        self.vgg = vgg
        self.temporal = temporal
        self.precision = precision
        self.content_weight = float(content_weight)
        self.style_weight = float(style_weight)
        self.tv_weight = float(tv_weight)
        self.detail_weight = float(detail_weight)
        self.content_layers = tuple(content_layers)
        self.style_layers = tuple(style_layers)
        self.family = family(style_loss)
        self.wrap = wrap
        weights = style_layer_weights or [1.0] * len(self.style_layers)
        self.layer_weights = dict(zip(self.style_layers, weights, strict=True))
        self.regions = list(regions)
        if self.regions and self.family.guided_loss is None:
            raise InvalidOption(
                f"region masks need --style-loss gram; {style_loss} has no masked form yet"
            )
        with torch.no_grad():
            per_style: list[dict[str, Any]] = []
            for style in styles:
                if isinstance(style, Mapping):  # its targets, made before (prepared)
                    per_style.append(dict(style))
                    continue
                feats = self._features(style)
                per_style.append({n: self.family.target(feats[n]) for n in self.style_layers})
            #: Each style's own targets, per layer (what a prepared style keeps).
            self.style_targets = per_style
            if self.regions:
                # One target per region: its style's statistics, unblended.
                self.targets: list[dict[str, Any]] = [per_style[r.style] for r in self.regions]
            else:
                self.targets = [{
                    n: self.family.blend([s[n] for s in per_style], list(style_mix[n]))
                    for n in self.style_layers
                }]
            self.content_targets: dict[str, torch.Tensor] = {}
            self.content_maps: dict[str, torch.Tensor | None] = {}
            if content is not None and self.content_weight > 0:
                # Departure from Gatys et al. (2016) for seamless outputs: near a wrapped edge the
                # content target fades into a blur of the photo and its weight ramps to 0, so that
                # the style, not the photo's cut, shapes the picture there.
                ramp = wrap_ramp(tuple(content.shape[-2:]), wrap, content.device)
                feats = self._features(wrap_blend(content, wrap))
                for n in self.content_layers:
                    size = feats[n].shape[-2:]
                    self.content_targets[n] = feats[n].detach().float()
                    self.content_maps[n] = _combine(
                        protect_map(protect, size),
                        None if ramp is None else downsample_mask(ramp, tuple(size)))
            self.detail_target = None
            if content is not None and self.detail_weight > 0:
                self.detail_target = FAM.laplacian(content)
        self._region_masks: dict[tuple[int, str], torch.Tensor] = {}

    def _features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        with autocast(self.precision, image.device):
            return self.vgg(image)

    def _region_mask(self, index: int, layer: str, size: torch.Size) -> torch.Tensor:
        key = (index, layer)
        if key not in self._region_masks:
            self._region_masks[key] = downsample_mask(self.regions[index].mask, tuple(size))
        return self._region_masks[key]

    def _style(self, feats: Mapping[str, torch.Tensor]) -> torch.Tensor:
        total_weight = sum(self.layer_weights.values()) or 1.0
        loss = feats[self.style_layers[0]].new_zeros((), dtype=torch.float32)
        for n in self.style_layers:
            if self.regions:
                guided = self.family.guided_loss
                assert guided is not None
                parts = [guided(feats[n], self._region_mask(i, n, feats[n].shape[-2:]), t[n])
                         for i, t in enumerate(self.targets)]
                value = torch.stack(parts).mean()
            else:
                value = self.family.loss(feats[n], self.targets[0][n])
            loss = loss + self.layer_weights[n] * value
        return loss / total_weight

    def _content(self, feats: Mapping[str, torch.Tensor]) -> torch.Tensor:
        loss = feats[self.content_layers[0]].new_zeros((), dtype=torch.float32)
        for n, target in self.content_targets.items():
            weights = self.content_maps[n]
            if weights is None:
                loss = loss + LF.content_loss(feats[n], target)
            else:
                loss = loss + weighted_content_loss(feats[n], target, weights)
        return loss / len(self.content_targets)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        feats = self._features(image)
        parts: dict[str, torch.Tensor] = {}
        total = image.new_zeros((), dtype=torch.float32)
        if self.style_weight > 0:
            parts["style"] = self._style(feats)
            total = total + self.style_weight * parts["style"]
        if self.content_targets:
            parts["content"] = self._content(feats)
            total = total + self.content_weight * parts["content"]
        if self.detail_target is not None:
            parts["detail"] = FAM.laplacian_loss(image, self.detail_target)
            total = total + self.detail_weight * parts["detail"]
        if self.temporal is not None and self.temporal.weight > 0:
            parts["temporal"] = self.temporal.loss(image)
            total = total + self.temporal.weight * parts["temporal"]
        if self.tv_weight > 0:
            parts["tv"] = LF.tv_loss(image, wrap_x=self.wrap in ("both", "x"),
                                     wrap_y=self.wrap == "both")
            total = total + self.tv_weight * parts["tv"]
        return total, {k: float(v.detach()) for k, v in parts.items()}


def protect_map(protect: Sequence[tuple[torch.Tensor, float]],
                 size: torch.Size) -> torch.Tensor | None:
    """Per-position content weights ``1 + sum_k (w_k - 1) * mask_k`` at a layer's size."""
    if not protect:
        return None
    out = None
    for mask, weight in protect:
        term = (weight - 1.0) * downsample_mask(mask, tuple(size))
        out = term if out is None else out + term
    assert out is not None
    return (1.0 + out).clamp_min(0.0)


def wrap_ramp(size: tuple[int, int], wrap: str, device: torch.device | str = "cpu",
              band: float | None = None) -> torch.Tensor | None:
    """Content weights (1, 1, h, w) of a seamless output: 1 inside, falling smoothly to 0 over
    ``band`` (default :data:`WRAP_BAND`) of the side towards each wrapped edge (left/right for
    ``wrap="x"``, all four for ``"both"``); None for ``wrap="none"``.

    The photo's own shapes are cut where its opposite edges meet; this lets the style alone
    shape the picture there, and the circular padding of VGG makes that continuous.
    """
    if wrap == "none":
        return None
    band = WRAP_BAND if band is None else float(band)
    h, w = int(size[0]), int(size[1])

    def axis(n: int) -> torch.Tensor:
        centre = torch.arange(n, dtype=torch.float32, device=device) + 0.5
        t = (torch.minimum(centre, n - centre) / max(band * n, 1e-6)).clamp(0.0, 1.0)
        return t * t * (3.0 - 2.0 * t)  # smoothstep: no kink where the band starts

    ones_y = torch.ones(h, dtype=torch.float32, device=device)
    ramp_y = axis(h) if wrap == "both" else ones_y
    return (ramp_y[:, None] * axis(w)[None, :])[None, None]


def wrap_blend(image: torch.Tensor, wrap: str, band: float | None = None) -> torch.Tensor:
    """``image`` cross-faded, over the :func:`wrap_ramp` band, into a periodic blur of itself
    (the picture shrunk to about one cell per band along each wrapped axis and enlarged back,
    both as a repeating picture): at the wrapped edges only smooth colour is left, continuous
    across the wrap. Unchanged for ``wrap="none"``."""
    ramp = wrap_ramp(tuple(image.shape[-2:]), wrap, image.device, band)
    if ramp is None:
        return image
    h, w = (int(n) for n in image.shape[-2:])
    cells = max(1, round(1.0 / (WRAP_BAND if band is None else band)))
    small = (min(h, cells) if wrap == "both" else h, min(w, cells))
    blurred = resize(resize(image, small, wrap=wrap), (h, w), wrap=wrap)
    ramp = ramp.to(image.dtype)
    return ramp * image + (1.0 - ramp) * blurred


def _combine(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
    if a is None or b is None:
        return b if a is None else a
    return a * b
