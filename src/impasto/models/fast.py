"""Small transformation networks for CPUs and phones: ``fast`` and ``fast-tiny``.

Where the Johnson network spends its work (about 40 GMAC at 512 x 512): full-resolution 9x9
convolutions at both ends, and ten full 3x3 convolutions at 128 channels in the middle. These
networks keep the same shape (encode, residual blocks, upsample-then-convolve) but

- work at a fraction of the channels,
- make the residual blocks and the upsampling convolutions depthwise-separable (MobileNet),
- start with a stride-2 5x5 convolution and end with a sub-pixel convolution (Shi et al.
  2016), so no convolution runs at full resolution.

``fast`` (stride 4, four residual blocks at 64 channels, about 1.1 GMAC at 512 x 512): the
residual blocks see a quarter of the resolution, as in Johnson's network. ``fast-tiny``
(stride 8, about 0.45 GMAC) downsamples once more; it is twice as fast, but its bottleneck
keeps 64 values for every 192 input values and its pictures lose the content's detail
(docs/benchmarks.md, real-time networks). benchmarks/network.py measures the frames per
second of all of them.
"""

from __future__ import annotations

import torch
from torch import nn

from impasto.models.blocks import ConvNormAct, SeparableResidual, SeparableUpConv, SubPixelOut
from impasto.models.registry import register


@register("fast", stride=4)
class FastNet(nn.Module):
    """Two stride-2 convs (``width``, 4 x ``width`` channels), ``blocks`` separable residual
    blocks at 1/4 of the resolution, one separable upsample-conv back to ``width`` channels and
    a sub-pixel convolution to RGB."""

    def __init__(self, width: int = 16, blocks: int = 4) -> None:
        super().__init__()
        w = width
        self.net = nn.Sequential(
            ConvNormAct(3, w, 5, stride=2),
            ConvNormAct(w, 4 * w, 3, stride=2),
            *[SeparableResidual(4 * w) for _ in range(blocks)],
            SeparableUpConv(4 * w, w),
            SubPixelOut(w),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] (B, 3, H, W), H and W multiples of 4 -> RGB, about [0, 1] (unclamped)."""
        return self.net(x)


@register("fast-tiny", stride=8)
class FastTinyNet(nn.Module):
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
