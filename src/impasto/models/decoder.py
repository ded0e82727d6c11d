"""Decoders from VGG-19 features back to pictures, for arbitrary-style transfer.

AdaIN (Huang and Belongie 2017) decodes ``relu4_1`` features; WCT (Li et al. 2017) decodes
``relu1_1`` ... ``relu5_1``, one decoder each. Both papers mirror VGG-19: the same channels and
convolutions in reverse, about as much work as the encoder (some 60 GMAC at 512 x 512 for
``relu4_1``). Ours keep the mirror's shape (reflection-padded 3x3 convolutions, ReLU, nearest
upsampling where VGG pools, no normalisation) with ``width`` channels at full resolution,
doubling at each level (capped at 512): ``width=64`` is the papers' decoder, the default
``width=32`` about a fifth of its work (12 GMAC at 512 x 512 for ``relu4_1``), so a picture's
time goes to the encoder, not the decoder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from impasto.errors import InvalidOption
from impasto.features.vgg import DECODER_LAYERS, FEATURE_SCALE
from impasto.models.registry import register


def _conv(c_in: int, c_out: int, act: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 3)]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return layers


class _Up(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="nearest")


@register("decoder", stride=16, kind="decoder")
class Decoder(nn.Module):
    """Features of VGG-19's ``layer`` (B, C, H / s, W / s) -> RGB (B, 3, H, W), s = 2^(block-1).

    Level k (block k of VGG, 1/2^(k-1) of the resolution) has ``width * 2^(k-1)`` channels.
    The first convolution maps the features to the level below; each level then runs a
    convolution at its own width and one down to the next level's, after a 2x upsampling.
    """

    def __init__(self, layer: str = "relu4_1", width: int = 32) -> None:
        super().__init__()
        if layer not in DECODER_LAYERS:
            raise InvalidOption(f"decoders start from {', '.join(DECODER_LAYERS)}, not {layer!r}")
        if not isinstance(width, int) or not 4 <= width <= 256:
            raise InvalidOption(f"decoder width must be an integer from 4 to 256, not {width!r}")
        self.layer = layer
        self.block = int(layer[4])
        self.stride = 2 ** (self.block - 1)
        self.in_channels = DECODER_LAYERS[layer]
        self.input_scale = 1.0 / FEATURE_SCALE[layer]

        def ch(level: int) -> int:
            return 3 if level == 0 else min(width * 2 ** (level - 1), 512)

        layers: list[nn.Module] = []
        if self.block == 1:
            layers += _conv(self.in_channels, ch(1)) + _conv(ch(1), 3, act=False)
        else:
            layers += _conv(self.in_channels, ch(self.block - 1))
            for level in range(self.block - 1, 0, -1):
                layers.append(_Up())
                layers += _conv(ch(level), ch(level))
                layers += _conv(ch(level), ch(level - 1), act=level > 1)
        self.net = nn.Sequential(*layers)

    def example_input(self, batch: int, height: int, width: int) -> torch.Tensor:
        """Random features of about VGG's scale for a (height, width) picture (for tests and
        export)."""
        return torch.rand(batch, self.in_channels, height // self.stride,
                          width // self.stride) * 2.0 / self.input_scale

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """VGG features -> RGB, about [0, 1] (unclamped)."""
        return self.net(features * self.input_scale)
