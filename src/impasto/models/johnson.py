"""The transformation network of Johnson et al. (2016), "Perceptual Losses for Real-Time Style
Transfer and Super-Resolution", with instance norm (Ulyanov et al. 2016), reflection padding and
upsample-then-convolve decoding."""

from __future__ import annotations

import torch
from torch import nn

from impasto.models.blocks import ConvNormAct, Residual, UpConv
from impasto.models.registry import register


@register("johnson", stride=4)
class JohnsonNet(nn.Module):
    """9x9 conv (32), two stride-2 convs (64, 128), ``blocks`` residual blocks at 128 channels,
    two upsample-convs (64, 32) and a 9x9 conv back to RGB; about 1.7 M parameters."""

    def __init__(self, width: int = 32, blocks: int = 5) -> None:
        super().__init__()
        w = width
        self.net = nn.Sequential(
            ConvNormAct(3, w, 9),
            ConvNormAct(w, 2 * w, 3, stride=2),
            ConvNormAct(2 * w, 4 * w, 3, stride=2),
            *[Residual(4 * w) for _ in range(blocks)],
            UpConv(4 * w, 2 * w),
            UpConv(2 * w, w),
            nn.ReflectionPad2d(4),
            nn.Conv2d(w, 3, 9),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] (B, 3, H, W), H and W multiples of 4 -> RGB, about [0, 1] (unclamped)."""
        return self.net(x)
