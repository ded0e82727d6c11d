"""The whole AdaIN path as one module, for ONNX export: VGG-19 (or a distilled encoder) to
``relu4_1`` for the content and the style, AdaIN, the content-style trade-off, the decoder,
and the stylizer's reflected border."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from impasto.arbitrary import transforms as T
from impasto.arbitrary.core import MARGIN, decoder_encoder
from impasto.errors import InvalidOption
from impasto.features.vgg import VGG19
from impasto.models.export import OPSET, for_export, onnx_target
from impasto.models.store import StyleModel, load_encoder, load_shipped, paired_model


class AdaINGraph(nn.Module):
    """Content, style and strength in; the stylised picture out (what
    :class:`~impasto.arbitrary.core.ArbitraryStylizer` makes with one style, unpatched)."""

    def __init__(self, decoder: nn.Module, encoder: nn.Module | None = None) -> None:
        super().__init__()
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
        # The stylizer's reflected border (the decoder streaks the outermost rows).
        m = MARGIN
        f = self._encode(nn.functional.pad(content, (m, m, m, m), mode="reflect"))
        t = T.adain(f, T.mean_std(self._encode(style)))
        return self.decoder(strength * t + (1.0 - strength) * f)[..., m:-m, m:-m]


def is_adain_decoder(model: StyleModel) -> bool:
    return model.kind == "decoder" and model.params.get("layer", "relu4_1") == "relu4_1"


def partner_encoder(model: StyleModel, encoder: StyleModel | None) -> StyleModel | None:
    """The distilled encoder an AdaIN decoder was trained on (None: VGG-19): ``encoder`` if
    it is the one, else the shipped encoder its ``config.json`` pairs it with; the recorded
    checksum must match either way."""
    wanted = decoder_encoder(model)
    if wanted is None:
        if encoder is not None:
            raise InvalidOption(f"{model.name} decodes VGG-19's features; give no --encoder")
        return None
    if encoder is None:
        name = paired_model(model.name, "encoder")
        if name is None:
            raise InvalidOption(f"{model.name} was trained on a distilled encoder: give it "
                                "(--encoder)")
        encoder = load_encoder(load_shipped(name))
    if encoder.sha256 != wanted:
        raise InvalidOption(f"{model.name} was not trained on {encoder.name}'s features")
    return encoder


def export_adain(model: StyleModel, output: str | os.PathLike[str], *,
                 encoder: StyleModel | None = None) -> Path:
    """Write an AdaIN decoder as the whole AdaIN path; atomic. Inputs ``content``
    (1, 3, H, W) with H and W multiples of 8 and at least 24, ``style`` (1, 3, h, w) and
    ``strength`` (1,); output ``stylized``."""
    if not is_adain_decoder(model):
        raise InvalidOption(f"{model.name} is not an AdaIN decoder (relu4_1)")
    partner = partner_encoder(model, encoder)
    out, tmp = onnx_target(output)
    graph = AdaINGraph(for_export(model.net.float().cpu().eval()),
                       for_export(partner.net.float().cpu().eval()) if partner else None).eval()
    args = (torch.rand(1, 3, 64, 64), torch.rand(1, 3, 48, 80), torch.ones(1))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                graph, args, str(tmp), input_names=["content", "style", "strength"],
                output_names=["stylized"],
                dynamic_axes={"content": {2: "height", 3: "width"},
                              "style": {2: "style_height", 3: "style_width"},
                              "stylized": {2: "height", 3: "width"}},
                opset_version=OPSET, dynamo=False,
            )
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)  # a failed export leaves no .part file
    return out
