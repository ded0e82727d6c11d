"""Export any trained model to ONNX: an AdaIN decoder as the whole AdaIN path
(:mod:`impasto.arbitrary.graph`), every other model as itself (:mod:`impasto.models.export`)."""

from __future__ import annotations

import os
from pathlib import Path

from impasto.arbitrary.graph import export_adain, is_adain_decoder
from impasto.errors import InvalidOption
from impasto.models.export import export_onnx
from impasto.models.store import StyleModel


def export_model(model: StyleModel, output: str | os.PathLike[str], *,
                 encoder: StyleModel | None = None) -> Path:
    """Write ``model`` as ONNX (atomic); ``encoder``: the distilled encoder an AdaIN decoder
    was trained on, where it does not ship."""
    if is_adain_decoder(model):
        return export_adain(model, output, encoder=encoder)
    if encoder is not None:
        raise InvalidOption("--encoder goes with an AdaIN decoder")
    return export_onnx(model, output)
