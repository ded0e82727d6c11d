"""Export of trained networks to ONNX, with dynamic height and width."""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from impasto.errors import InvalidOption
from impasto.models.onnx import STRIDE_KEY, WEIGHTS_KEY
from impasto.models.store import StyleModel

__all__ = ["OPSET", "STRIDE_KEY", "WEIGHTS_KEY", "export_onnx", "for_export", "onnx_target",
           "stamp"]

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
    if out.is_dir():
        raise InvalidOption(f"the output {out} is a folder: give the ONNX file's name (e.g. "
                            f"-o {out / 'model.onnx'})")
    if out.suffix.lower() != ".onnx":
        raise InvalidOption(f"the ONNX file must end in .onnx, not {out.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out, out.with_name(out.name + ".part")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def stamp(path: Path, key: str, value: str) -> None:
    """Add ``key: value`` to the ONNX file's ``metadata_props``, without the onnx package:
    a protobuf message followed by another is the two merged, and a repeated field appends,
    so the entry is written after the model (ModelProto field 14, StringStringEntryProto)."""
    entry = b"".join(tag + _varint(len(text)) + text
                     for tag, text in ((b"\x0a", key.encode()), (b"\x12", value.encode())))
    with path.open("ab") as fh:
        fh.write(b"\x72" + _varint(len(entry)) + entry)


def export_onnx(model: StyleModel, output: str | os.PathLike[str]) -> Path:
    """Write ``model`` as ONNX; atomic (no ``.part`` file is left when it fails). The file's
    metadata records the SHA-256 of the weights (``impasto_weights_sha256``) and the network's
    stride (``impasto_stride``), so that it runs without PyTorch (:mod:`impasto.models.onnx`).

    A style network: input ``image`` (B, 3, H, W) in [0, 1], H and W multiples of the model's
    stride; output ``stylized``, unclamped. A decoder: input ``features``, output ``image``.
    A distilled encoder: input ``image``, output ``features`` (relu4_1). (An AdaIN decoder as
    the whole AdaIN path: :func:`impasto.arbitrary.graph.export_adain`.)
    """
    out, tmp = onnx_target(output)
    net = for_export(model.net.float().cpu().eval())
    if model.kind == "decoder":
        example = net.example_input(1, 64, 64)
        names = ("features", "image")
    else:
        side = 4 * model.stride
        example = torch.rand(1, 3, side, side)
        names = ("image", "features" if model.kind == "encoder" else "stylized")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # The TorchScript-based exporter: one self-contained file, no onnxscript needed.
            torch.onnx.export(
                net, (example,), str(tmp), input_names=[names[0]], output_names=[names[1]],
                dynamic_axes={n: {0: "batch", 2: "height", 3: "width"} for n in names},
                opset_version=OPSET, dynamo=False,
            )
        if model.sha256:
            stamp(tmp, WEIGHTS_KEY, model.sha256)
        stamp(tmp, STRIDE_KEY, str(model.stride))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
