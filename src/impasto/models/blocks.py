"""Building blocks of the feed-forward style networks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvNormAct(nn.Sequential):
    """Reflection padding, convolution, instance norm and ReLU.

    Johnson et al. (2016) pad with zeros and normalise batches; Ulyanov et al. (2016) showed
    instance normalisation gives better stylisations, and reflection padding keeps borders from
    turning into lines (a common complaint about trained networks).
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, *,
                 norm: bool = True, act: bool = True, groups: int = 1) -> None:
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(kernel // 2),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, groups=groups, bias=not norm),
        ]
        if norm:
            layers.append(nn.InstanceNorm2d(c_out, affine=True))
        if act:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class Residual(nn.Module):
    """Two 3x3 convolutions with a skip connection (Johnson et al. 2016, after He et al.)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvNormAct(channels, channels, 3),
            ConvNormAct(channels, channels, 3, act=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SeparableResidual(nn.Module):
    """A residual block of depthwise-separable convolutions (MobileNet, Howard et al. 2017):
    each 3x3 convolution is a per-channel 3x3 followed by a 1x1 mix, about 8x fewer operations
    than a full 3x3 at 64 channels."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvNormAct(channels, channels, 3, groups=channels, norm=False, act=False),
            ConvNormAct(channels, channels, 1),
            ConvNormAct(channels, channels, 3, groups=channels, norm=False, act=False),
            ConvNormAct(channels, channels, 1, act=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class UpConv(nn.Module):
    """Nearest-neighbour 2x upsampling, then a convolution: Johnson et al. (2016) use transposed
    convolutions, which leave checkerboard artefacts (Odena et al. 2016); resizing first does
    not."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3) -> None:
        super().__init__()
        self.conv = ConvNormAct(c_in, c_out, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class SeparableUpConv(nn.Module):
    """:class:`UpConv` with a depthwise-separable convolution."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            ConvNormAct(c_in, c_in, 3, groups=c_in, norm=False, act=False),
            ConvNormAct(c_in, c_out, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class SubPixelOut(nn.Sequential):
    """The last 2x upsampling and the RGB output in one: a 3x3 convolution to 12 channels, then
    pixel shuffle (Shi et al. 2016), so no convolution runs at full resolution."""

    def __init__(self, c_in: int) -> None:
        super().__init__(nn.ReflectionPad2d(1), nn.Conv2d(c_in, 12, 3), nn.PixelShuffle(2))
