"""The transfer objective at one scale: VGG-19 features, content, style and TV terms."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from impasto.features.vgg import VGG19
from impasto.losses import functional as LF
from impasto.losses.modules import ContentLoss, GramStyleLoss
from impasto.optim.precision import autocast


class TransferObjective(nn.Module):
    """``loss(image) = cw * content + sw * style + tv * TV``, with targets fixed at construction.

    Style targets of several style images are blended as the weighted mean of their Gram matrices
    (Gatys et al. 2016 sum weighted per-style losses; the blended target has the same minimiser
    for the Gram loss up to a constant, and costs one comparison instead of one per style).
    """

    def __init__(
        self,
        vgg: VGG19,
        *,
        content: torch.Tensor | None,
        styles: Sequence[torch.Tensor],
        style_blend: Sequence[float],
        content_layers: Sequence[str],
        style_layers: Sequence[str],
        style_layer_weights: Sequence[float] | None,
        content_weight: float,
        style_weight: float,
        tv_weight: float,
        precision: str,
    ) -> None:
        super().__init__()
        self.vgg = vgg
        self.precision = precision
        self.content_weight = float(content_weight)
        self.style_weight = float(style_weight)
        self.tv_weight = float(tv_weight)
        self.content_layers = tuple(content_layers)
        self.style_layers = tuple(style_layers)
        weights = style_layer_weights or [1.0] * len(self.style_layers)
        with torch.no_grad():
            grams_per_style = []
            for style in styles:
                feats = self._features(style)
                grams_per_style.append({n: LF.gram(feats[n]) for n in self.style_layers})
            targets = {
                n: LF.blend_grams([g[n] for g in grams_per_style], list(style_blend))
                for n in self.style_layers
            }
            self.style_loss = GramStyleLoss(targets, dict(zip(self.style_layers, weights,
                                                              strict=True)))
            self.content_loss: ContentLoss | None = None
            if content is not None and self.content_weight > 0:
                feats = self._features(content)
                self.content_loss = ContentLoss(
                    {n: feats[n] for n in self.content_layers},
                    dict.fromkeys(self.content_layers, 1.0),
                )

    def _features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        with autocast(self.precision, image.device):
            return self.vgg(image)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        feats = self._features(image)
        style = self.style_loss(feats)
        total = self.style_weight * style
        parts = {"style": style.detach()}
        if self.content_loss is not None:
            content = self.content_loss(feats)
            total = total + self.content_weight * content
            parts["content"] = content.detach()
        if self.tv_weight > 0:
            tv = LF.tv_loss(image)
            total = total + self.tv_weight * tv
            parts["tv"] = tv.detach()
        return total, {k: float(v) for k, v in parts.items()}
