"""``fast``: a small transformation network for CPUs and phones.

Where the Johnson network spends its work (about 40 GMAC at 512 x 512): full-resolution 9x9
convolutions at both ends, and ten full 3x3 convolutions at 128 channels in the middle. This
network keeps the same shape (encode, residual blocks, upsample-then-convolve) but

- works at a quarter of the channels (16, 32, 64) and downsamples once more (stride 8), so the
  residual blocks run on 1/64 of the pixels,
- makes the residual blocks and the upsampling convolutions depthwise-separable (MobileNet),
- starts with a stride-2 5x5 convolution and ends with a sub-pixel convolution (Shi et al.
  2016), so no convolution runs at full resolution,

about 0.45 GMAC at 512 x 512, 90x less than Johnson's. benchmarks/realtime.py measures the
frames per second of both (and of the variants considered), docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import torch
from torch import nn

from impasto.models.blocks import ConvNormAct, SeparableResidual, SeparableUpConv, SubPixelOut
from impasto.models.registry import register


@register("fast", stride=8)
class FastNet(nn.Module):
    """Three stride-2 convs (16, 32, 64 channels), ``blocks`` separable residual blocks at 1/8
    of the resolution, two separable upsample-convs and a sub-pixel convolution to RGB."""

    def __init__(self, width: int = 16, blocks: int = 4) -> None:
        super().__init__()
        w = width
        self.net = nn.Sequential(
            ConvNormAct(3, w, 5, stride=2),
            ConvNormAct(w, 2 * w, 3, stride=2),
            ConvNormAct(2 * w, 4 * w, 3, stride=2),
            *[SeparableResidual(4 * w) for _ in range(blocks)],
            SeparableUpConv(4 * w, 2 * w),
            SeparableUpConv(2 * w, w),
            SubPixelOut(w),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] (B, 3, H, W), H and W multiples of 8 -> RGB, about [0, 1] (unclamped)."""
        return self.net(x)
