"""VGG-19 (Simonyan and Zisserman, 2015) as a frozen feature extractor with named layers.

The module owns its Caffe preprocessing (RGB in [0, 1] -> BGR, 0-255, minus the ImageNet mean),
keeps only the layers up to the deepest one requested, and is frozen in ``eval()`` mode.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

from impasto.errors import InvalidOption
from impasto.features.layers import LAYER_NAMES
from impasto.features.weights import load_vgg19_state

Pooling = Literal["max", "avg"]
PaddingMode = Literal["zeros", "reflect", "replicate", "circular", "circular_x"]
PADDING_MODES: tuple[str, ...] = get_args(PaddingMode)

#: Caffe's ImageNet mean in BGR order, 0-255 scale.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


#: The layers decoders start from (AdaIN, WCT), and VGG-19's channels there.
DECODER_LAYERS = {"relu1_1": 64, "relu2_1": 128, "relu3_1": 256, "relu4_1": 512,
                  "relu5_1": 512}
#: The root-mean-square of VGG-19's features at those layers on photos, about (Caffe
#: preprocessing, 0-255 input): decoders divide their input by it, so it arrives near unit
#: scale whatever the layer and Adam's steps suit every decoder (unscaled, relu4_1 features of
#: RMS ~800 kill the decoder's ReLUs in the first steps).
FEATURE_SCALE = {"relu1_1": 40.0, "relu2_1": 160.0, "relu3_1": 230.0, "relu4_1": 800.0,
                 "relu5_1": 120.0}


def check_layers(layers: Iterable[str]) -> list[str]:
    """Validate layer names against :data:`LAYER_NAMES`; raise one clear error otherwise."""
    layers = list(layers)
    for name in layers:
        if name not in LAYER_NAMES:
            raise InvalidOption(
                f"unknown VGG-19 layer {name!r}; layers are conv1_1 ... conv5_4, relu1_1 ... "
                "relu5_4 and pool1 ... pool5"
            )
    return layers


class VGG19(nn.Module):
    """Frozen VGG-19 returning the activations of the requested layers by name.

    Args:
        layers: the layer names whose outputs ``forward`` returns (also sets where the net ends).
        pooling: ``"max"`` as trained, or ``"avg"`` (Gatys et al. 2016 report smoother results).
        padding_mode: padding of every convolution; ``"circular"`` makes features wrap around
            in both axes (seamless tiles), ``"circular_x"`` horizontally only (360-degree
            panoramas; zeros above and below).
    """

    def __init__(
        self,
        layers: Sequence[str],
        *,
        pooling: Pooling = "max",
        padding_mode: PaddingMode = "zeros",
    ) -> None:
        super().__init__()
        self.layers = tuple(check_layers(layers))
        if not self.layers:
            raise InvalidOption("VGG19 needs at least one layer")
        if pooling not in ("max", "avg"):
            raise InvalidOption(f"pooling must be 'max' or 'avg', not {pooling!r}")
        if padding_mode not in PADDING_MODES:
            raise InvalidOption(
                f"padding_mode must be one of {', '.join(PADDING_MODES)}, not {padding_mode!r}"
            )
        self.pooling = pooling
        self.padding_mode = padding_mode
        deepest = max(LAYER_NAMES.index(name) for name in self.layers)
        self._plan = LAYER_NAMES[: deepest + 1]
        state = load_vgg19_state()
        self.convs = nn.ModuleDict()
        for name in self._plan:
            if name.startswith("conv"):
                weight = state[f"{name}.weight"]
                # circular_x pads by hand in forward(); Conv2d pads both axes alike.
                own = padding_mode != "circular_x"
                conv = nn.Conv2d(
                    weight.shape[1], weight.shape[0], 3, padding=1 if own else 0,
                    padding_mode=padding_mode if own else "zeros", device="meta",
                )
                # Share the decoded (cached, read-only) tensors instead of copying them: every
                # network built in a process holds one copy of the weights, not one each.
                conv.weight = nn.Parameter(weight, requires_grad=False)
                conv.bias = nn.Parameter(state[f"{name}.bias"], requires_grad=False)
                self.convs[name] = conv
        mean = torch.tensor(CAFFE_MEAN_BGR, dtype=torch.float32).view(1, 3, 1, 1)
        self.register_buffer("mean_bgr", mean, persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGG19:
        return super().train(False)

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] -> Caffe input (BGR, 0-255, mean subtracted)."""
        return image.flip(1) * 255.0 - self.mean_bgr.to(image.dtype)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Return ``{layer: activation}`` for the requested layers of a (B, 3, H, W) RGB batch."""
        wanted = set(self.layers)
        out: dict[str, torch.Tensor] = {}
        x = self.preprocess(image)
        for name in self._plan:
            kind = name[:4]
            if kind == "conv":
                if self.padding_mode == "circular_x":
                    x = F.pad(F.pad(x, (1, 1, 0, 0), mode="circular"), (0, 0, 1, 1))
                x = self.convs[name](x)
            elif kind == "relu":
                # In-place is safe unless the conv output itself was asked for: the conv's
                # backward needs its input, not its output.
                x = F.relu(x, inplace=f"conv{name[4:]}" not in wanted)
            elif self.pooling == "max":
                x = F.max_pool2d(x, 2, ceil_mode=True)
            else:
                x = F.avg_pool2d(x, 2, ceil_mode=True)
            if name in wanted:
                out[name] = x
        return out
