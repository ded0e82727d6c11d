"""A distilled encoder: a thin VGG-shaped network trained to predict VGG-19's ``relu4_1``.

VGG-19 up to ``relu4_1`` costs about 63 GMAC at 512 x 512, which bounds AdaIN's speed on CPUs
whatever the decoder. Wang et al. (2020, collaborative distillation) show that a VGG encoder
with a fraction of the channels, taught by the full one, keeps arbitrary-style transfer's
quality at a fraction of its work. Ours keeps VGG's shape up to ``relu4_1`` (3x3 convolutions
with zero padding, ReLU, 2x2 max pooling; 2, 2, 4 and 1 convolutions per block) at ``width``
channels in the first block, doubling per block (``width=64`` is VGG's own), and predicts
VGG's 512 ``relu4_1`` channels with a final 1x1 convolution: about 4 GMAC at 512 x 512 for
``width=16``. Trained with ``impasto train-encoder``; the AdaIN decoder is then fine-tuned on
its features (``impasto train-decoder --encoder``).
"""

from __future__ import annotations

import torch
from torch import nn

from impasto.errors import InvalidOption
from impasto.features.vgg import CAFFE_MEAN_BGR, DECODER_LAYERS, FEATURE_SCALE
from impasto.models.registry import register

#: Convolutions per block up to relu4_1, as in VGG-19.
BLOCK_CONVS = (2, 2, 4, 1)


@register("student", stride=8, kind="encoder")
class StudentEncoder(nn.Module):
    """RGB (B, 3, H, W) in [0, 1] -> an estimate of VGG-19's ``relu4_1`` (B, 512, H/8, W/8),
    on VGG's own scale."""

    layer = "relu4_1"

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        if not isinstance(width, int) or not 4 <= width <= 64:
            raise InvalidOption(f"encoder width must be an integer from 4 to 64, not {width!r}")
        layers: list[nn.Module] = []
        c_in = 3
        for block, n in enumerate(BLOCK_CONVS):
            if block:
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))  # as VGG19 pools
            c_out = width * 2**block
            for _ in range(n):
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True)]
                c_in = c_out
        layers += [nn.Conv2d(c_in, DECODER_LAYERS[self.layer], 1), nn.ReLU(inplace=True)]
        self.net = nn.Sequential(*layers)
        self.output_scale = FEATURE_SCALE[self.layer]
        mean = torch.tensor(CAFFE_MEAN_BGR, dtype=torch.float32).view(1, 3, 1, 1) / 255.0
        self.register_buffer("mean_rgb", mean.flip(1), persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB in [0, 1] -> (B, 512, H/8, W/8) on VGG's scale."""
        x = (image - self.mean_rgb.to(image.dtype)) * 4.0  # about unit scale
        return self.net(x) * self.output_scale

