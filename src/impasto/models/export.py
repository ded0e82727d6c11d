"""Export of trained networks to ONNX, with dynamic height and width."""

from __future__ import annotations

import copy
import json
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from impasto.errors import InvalidOption
from impasto.models.store import StyleModel

OPSET = 17


class SlicedReflectionPad(nn.Module):
    """:class:`torch.nn.ReflectionPad2d` as slices and concatenations: the same numbers, but
    onnxruntime runs it faster than its own reflect ``Pad`` (measured: the ``fast`` network at
    512 x 512 spent a quarter of its time in ``Pad``; see docs/benchmarks.md)."""

    def __init__(self, padding: tuple[int, int, int, int]) -> None:
        super().__init__()
        self.left, self.right, self.top, self.bottom = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _reflect(_reflect(x, 2, self.top, self.bottom), 3, self.left, self.right)


def _reflect(x: torch.Tensor, dim: int, before: int, after: int) -> torch.Tensor:
    """``x`` reflected by ``before`` and ``after`` values along ``dim`` (negative indices, so the
    exported graph keeps dynamic sizes)."""
    def mirrored(start: int, stop: int) -> torch.Tensor:
        index = [slice(None)] * x.dim()
        index[dim] = slice(start, stop)
        return x[tuple(index)].flip(dim)

    parts = ([mirrored(1, before + 1)] if before else []) + [x] + (
        [mirrored(-after - 1, -1)] if after else [])
    return torch.cat(parts, dim) if len(parts) > 1 else x


def for_export(net: nn.Module) -> nn.Module:
    """A copy of ``net`` with every :class:`~torch.nn.ReflectionPad2d` as a
    :class:`SlicedReflectionPad` (same outputs)."""
    net = copy.deepcopy(net)
    for parent in list(net.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.ReflectionPad2d):
                setattr(parent, name, SlicedReflectionPad(tuple(child.padding)))
    return net


class AdaINGraph(nn.Module):
    """The whole AdaIN path in one graph: VGG-19 to ``relu4_1`` for the content and the style,
    AdaIN, the content-style trade-off, and the decoder."""

    def __init__(self, decoder: nn.Module, encoder: nn.Module | None = None) -> None:
        super().__init__()
        from impasto.features.vgg import VGG19

        # VGG-19 returns {layer: features}; a distilled encoder returns the features.
        self.vgg = VGG19(["relu4_1"]) if encoder is None else None
        self.encoder = encoder
        self.decoder = decoder

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        if self.vgg is not None:
            return self.vgg(x)["relu4_1"]
        assert self.encoder is not None
        return self.encoder(x)

    def forward(self, content: torch.Tensor, style: torch.Tensor,
                strength: torch.Tensor) -> torch.Tensor:
        from impasto.arbitrary import transforms as T
        from impasto.arbitrary.stylizer import MARGIN

        # The stylizer's reflected border (the decoder streaks the outermost rows).
        m = MARGIN
        f = self._encode(nn.functional.pad(content, (m, m, m, m), mode="reflect"))
        t = T.adain(f, T.mean_std(self._encode(style)))
        return self.decoder(strength * t + (1.0 - strength) * f)[..., m:-m, m:-m]


def is_adain_decoder(model: StyleModel) -> bool:
    return model.kind == "decoder" and model.params.get("layer", "relu4_1") == "relu4_1"


def _partner_encoder(model: StyleModel, encoder: StyleModel | None) -> StyleModel | None:
    """The distilled encoder an AdaIN decoder was trained on (None: VGG-19): ``encoder`` if
    it is the one, else the shipped encoder with the recorded checksum."""
    from impasto.models.store import load_model, shipped_models

    wanted = (model.config.get("training") or {}).get("encoder_sha256")
    if wanted is None:
        if encoder is not None:
            raise InvalidOption(f"{model.name} decodes VGG-19's features; give no --encoder")
        return None
    if encoder is not None:
        if encoder.sha256 != wanted:
            raise InvalidOption(f"{model.name} was not trained on {encoder.name}'s features")
        return encoder
    for path in shipped_models().values():
        # Read each config's recorded checksum; load (and verify) only the match.
        if json.loads((Path(path) / "config.json").read_text()).get("weights_sha256") == wanted:
            candidate = load_model(path)
            if candidate.kind == "encoder":
                return candidate
    raise InvalidOption(f"{model.name} was trained on a distilled encoder: give it (--encoder)")


def export_onnx(model: StyleModel, output: str | os.PathLike[str], *,
                encoder: StyleModel | None = None) -> Path:
    """Write ``model`` as ONNX; atomic.

    A style network: input ``image`` (B, 3, H, W) in [0, 1], H and W multiples of the model's
    stride; output ``stylized``, unclamped. An AdaIN decoder (``relu4_1``): the whole AdaIN
    path with its encoder (VGG-19, or the distilled ``encoder`` it was trained on) and the
    stylizer's 16 px reflected border, inputs ``content`` (1, 3, H, W) with H and W multiples
    of 8 and at least 24, ``style`` (1, 3, h, w) and
    ``strength`` (1,); output ``stylized``. Another decoder: input ``features``. A distilled
    encoder: input ``image``, output ``features`` (relu4_1).
    """
    out = Path(output)
    if out.suffix.lower() != ".onnx":
        raise InvalidOption(f"the ONNX file must end in .onnx, not {out.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    net = for_export(model.net.float().cpu().eval())
    if model.kind == "decoder":
        partner = _partner_encoder(model, encoder) if is_adain_decoder(model) else None
        return _export_decoder(model, net, out, tmp,
                               for_export(partner.net.float().cpu().eval()) if partner else None)
    side = 4 * model.stride
    example = torch.rand(1, 3, side, side)
    name = "features" if model.kind == "encoder" else "stylized"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The TorchScript-based exporter: one self-contained file, no onnxscript needed.
        torch.onnx.export(
            net, (example,), str(tmp), input_names=["image"], output_names=[name],
            dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                          name: {0: "batch", 2: "height", 3: "width"}},
            opset_version=OPSET, dynamo=False,
        )
    os.replace(tmp, out)
    return out


def _export_decoder(model: StyleModel, net: nn.Module, out: Path, tmp: Path,
                    encoder: nn.Module | None) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if is_adain_decoder(model):
            graph = AdaINGraph(net, encoder).eval()
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
