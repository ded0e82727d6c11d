"""Export of trained networks to ONNX, with dynamic height and width."""

from __future__ import annotations

import copy
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


def onnx_target(output: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The ``.onnx`` file to write and the temporary file beside it that becomes it."""
    out = Path(output)
    if out.suffix.lower() != ".onnx":
        raise InvalidOption(f"the ONNX file must end in .onnx, not {out.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out, out.with_name(out.name + ".part")


def export_onnx(model: StyleModel, output: str | os.PathLike[str]) -> Path:
    """Write ``model`` as ONNX; atomic.

    A style network: input ``image`` (B, 3, H, W) in [0, 1], H and W multiples of the model's
    stride; output ``stylized``, unclamped. A decoder: input ``features``, output ``image``.
    A distilled encoder: input ``image``, output ``features`` (relu4_1). (An AdaIN decoder as
    the whole AdaIN path: :func:`impasto.arbitrary.graph.export_adain`.)
    """
    out, tmp = onnx_target(output)
    net = for_export(model.net.float().cpu().eval())
    if model.kind == "decoder":
        return _export_decoder(net, out, tmp)
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


def _export_decoder(net: nn.Module, out: Path, tmp: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        example = net.example_input(1, 64, 64)
        torch.onnx.export(
            net, (example,), str(tmp), input_names=["features"], output_names=["image"],
            dynamic_axes={"features": {0: "batch", 2: "height", 3: "width"},
                          "image": {0: "batch", 2: "height", 3: "width"}},
            opset_version=OPSET, dynamo=False,
        )
    os.replace(tmp, out)
    return out
