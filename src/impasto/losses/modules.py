"""Thin modules over :mod:`impasto.losses.functional`: targets computed once, kept as buffers."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from impasto.losses import functional as LF


class ContentLoss(nn.Module):
    """Content term over named layers with per-layer weights; targets are fixed at construction."""

    def __init__(self, targets: Mapping[str, torch.Tensor], weights: Mapping[str, float]) -> None:
        super().__init__()
        self.layers = tuple(targets)
        self.weights = {name: float(weights[name]) for name in self.layers}
        for name, t in targets.items():
            self.register_buffer(f"target_{name}", t.detach().float(), persistent=False)

    def target(self, name: str) -> torch.Tensor:
        return getattr(self, f"target_{name}")

    def forward(self, feats: Mapping[str, torch.Tensor]) -> torch.Tensor:
        total = sum(w for w in self.weights.values()) or 1.0
        loss = feats[self.layers[0]].new_zeros((), dtype=torch.float32)
        for name in self.layers:
            loss = loss + self.weights[name] * LF.content_loss(feats[name], self.target(name))
        return loss / total


class GramStyleLoss(nn.Module):
    """Gram style term over named layers; the (possibly blended) target Grams are fixed buffers."""

    def __init__(
        self, target_grams: Mapping[str, torch.Tensor], weights: Mapping[str, float]
    ) -> None:
        super().__init__()
        self.layers = tuple(target_grams)
        self.weights = {name: float(weights[name]) for name in self.layers}
        for name, g in target_grams.items():
            self.register_buffer(f"gram_{name}", g.detach().float(), persistent=False)

    def target(self, name: str) -> torch.Tensor:
        return getattr(self, f"gram_{name}")

    def per_layer(self, feats: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {n: LF.gram_style_loss(feats[n], self.target(n)) for n in self.layers}

    def forward(self, feats: Mapping[str, torch.Tensor]) -> torch.Tensor:
        total = sum(w for w in self.weights.values()) or 1.0
        loss = feats[self.layers[0]].new_zeros((), dtype=torch.float32)
        for name, value in self.per_layer(feats).items():
            loss = loss + self.weights[name] * value
        return loss / total


class TVLoss(nn.Module):
    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return LF.tv_loss(image)
