"""Export of trained networks to ONNX, with dynamic height and width."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from impasto.errors import InvalidOption
from impasto.models.store import StyleModel

OPSET = 17


def export_onnx(model: StyleModel, output: str | os.PathLike[str]) -> Path:
    """Write ``model`` as ONNX (input ``image`` (B, 3, H, W) in [0, 1], H and W multiples of
    the model's stride; output ``stylized``, unclamped); atomic."""
    out = Path(output)
    if out.suffix.lower() != ".onnx":
        raise InvalidOption(f"the ONNX file must end in .onnx, not {out.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    net = model.net.float().cpu().eval()
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
