"""Export of trained networks to ONNX, with dynamic height and width."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from impasto.errors import InvalidOption
from impasto.models.store import StyleModel

OPSET = 17


class AdaINGraph(nn.Module):
    """The whole AdaIN path in one graph: VGG-19 to ``relu4_1`` for the content and the style,
    AdaIN, the content-style trade-off, and the decoder."""

    def __init__(self, decoder: nn.Module) -> None:
        super().__init__()
        from impasto.features.vgg import VGG19

        self.encoder = VGG19(["relu4_1"])
        self.decoder = decoder

    def forward(self, content: torch.Tensor, style: torch.Tensor,
                strength: torch.Tensor) -> torch.Tensor:
        from impasto.arbitrary import transforms as T

        f = self.encoder(content)["relu4_1"]
        t = T.adain(f, T.mean_std(self.encoder(style)["relu4_1"]))
        return self.decoder(strength * t + (1.0 - strength) * f)


def is_adain_decoder(model: StyleModel) -> bool:
    return model.kind == "decoder" and model.params.get("layer", "relu4_1") == "relu4_1"


def export_onnx(model: StyleModel, output: str | os.PathLike[str]) -> Path:
    """Write ``model`` as ONNX; atomic.

    A style network: input ``image`` (B, 3, H, W) in [0, 1], H and W multiples of the model's
    stride; output ``stylized``, unclamped. An AdaIN decoder (``relu4_1``): the whole AdaIN
    path, inputs ``content`` (1, 3, H, W) with H and W multiples of 8, ``style`` (1, 3, h, w)
    and ``strength`` (1,); output ``stylized``. Another decoder: input ``features``.
    """
    out = Path(output)
    if out.suffix.lower() != ".onnx":
        raise InvalidOption(f"the ONNX file must end in .onnx, not {out.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    net = model.net.float().cpu().eval()
    if model.kind == "decoder":
        return _export_decoder(model, net, out, tmp)
    side = 4 * model.stride
    example = torch.rand(1, 3, side, side)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The TorchScript-based exporter: one self-contained file, no onnxscript needed.
        torch.onnx.export(
            net, (example,), str(tmp), input_names=["image"], output_names=["stylized"],
            dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                          "stylized": {0: "batch", 2: "height", 3: "width"}},
            opset_version=OPSET, dynamo=False,
        )
    os.replace(tmp, out)
    return out


def _export_decoder(model: StyleModel, net: nn.Module, out: Path, tmp: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if is_adain_decoder(model):
            graph = AdaINGraph(net).eval()
            args = (torch.rand(1, 3, 64, 64), torch.rand(1, 3, 48, 80), torch.ones(1))
            torch.onnx.export(
                graph, args, str(tmp), input_names=["content", "style", "strength"],
                output_names=["stylized"],
                dynamic_axes={"content": {2: "height", 3: "width"},
                              "style": {2: "style_height", 3: "style_width"},
                              "stylized": {2: "height", 3: "width"}},
                opset_version=OPSET, dynamo=False,
            )
        else:
            example = net.example_input(1, 64, 64)
            torch.onnx.export(
                net, (example,), str(tmp), input_names=["features"], output_names=["image"],
                dynamic_axes={"features": {0: "batch", 2: "height", 3: "width"},
                              "image": {0: "batch", 2: "height", 3: "width"}},
                opset_version=OPSET, dynamo=False,
            )
    os.replace(tmp, out)
    return out
