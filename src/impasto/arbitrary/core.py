"""Arbitrary-style transfer: any style picture, one pass, no per-style training.

``method="adain"`` encodes the content to VGG-19's ``relu4_1``, gives it each style's channel
means and deviations (AdaIN) and decodes. ``method="wct"`` runs Li et al.'s (2017) cascade:
whitening and colouring at ``relu5_1``, decode, then again at ``relu4_1`` ... ``relu1_1``,
coarse to fine.

Large pictures are stylised in overlapping patches with fixed statistics (URST, Chen et al.
2022): the content statistics at every layer come from a thumbnail (run through the same
cascade), the style statistics are computed once, so every patch gets the same transform and
the patches, blended with linear ramps across their overlaps, show no seams. Memory depends on
the patch size, not on the picture's.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F

from impasto.arbitrary import transforms as T
from impasto.config.checks import check_blend, check_strength
from impasto.config.render import DEFAULT_PATCH, MIN_PATCH, check_patch
from impasto.errors import InvalidOption
from impasto.features.vgg import VGG19
from impasto.image.masks import downsample_mask, normalise_region_masks
from impasto.image.resize import fit_long_side, pad_to, resize, resize_mask
from impasto.models.store import (
    StyleModel,
    default_decoders,
    load_encoder,
    load_model,
    load_shipped,
    paired_model,
)
from impasto.runtime.precision import autocast

Method = Literal["adain", "wct"]
METHODS: tuple[str, ...] = get_args(Method)
#: WCT's cascade, coarse to fine (Li et al. 2017).
WCT_LAYERS = ("relu5_1", "relu4_1", "relu3_1", "relu2_1", "relu1_1")
LAYERS = {"adain": ("relu4_1",), "wct": WCT_LAYERS}
# The shipped decoders each method uses by default are named in their config.json
# ("defaults_for"; impasto.models.store.default_decoders). WCT's cascade starts at relu4_1
# unless a relu5_1 decoder is given (--decoder): our CPU-trained relu5_1 decoder did not learn
# to invert (docs/benchmarks.md). Li et al. (2017) train inverting decoders; at relu4_1 the
# AdaIN decoder, trained to decode re-styled features, gives better pictures than our
# short-trained inverting one, so WCT uses it there.
#: Overlap of neighbouring patches: decoded pixels near a patch's edge are blended away (a
#: patch holds two of them).
OVERLAP = MIN_PATCH // 2
#: Decoders need whole pooling cells at every level down to relu5_1.
PAD_MULTIPLE = 16
#: Reflected border added around every picture (and patch) before encoding, cropped after
#: decoding: the encoder's zero padding makes the decoder streak the outermost rows and
#: columns; with the margin those fall outside the picture.
MARGIN = 16

Stats = T.MeanStd | T.MeanCov


@dataclass(frozen=True)
class StyleStats:
    """A style picture's statistics at each layer the method uses."""

    layers: dict[str, Stats]

    def to_tensors(self) -> dict[str, dict[str, torch.Tensor]]:
        """The statistics as plain tensors on the CPU (what a cache keeps)."""
        return {layer: ({"mean": s.mean.cpu(), "std": s.std.cpu()} if isinstance(s, T.MeanStd)
                        else {"mean": s.mean.cpu(), "cov": s.cov.cpu()})
                for layer, s in self.layers.items()}

    @classmethod
    def from_tensors(cls, data: dict[str, dict[str, torch.Tensor]],
                     device: torch.device) -> StyleStats:
        """The inverse of :meth:`to_tensors`, on ``device``."""
        return cls({layer: (T.MeanStd(d["mean"].to(device), d["std"].to(device)) if "std" in d
                            else T.MeanCov(d["mean"].to(device), d["cov"].to(device)))
                    for layer, d in data.items()})


def check_method(method: str) -> str:
    if method not in METHODS:
        raise InvalidOption(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    return method


def decoder_encoder(model: StyleModel) -> str | None:
    """The SHA-256 of the distilled encoder a decoder was trained on (None: VGG-19)."""
    return (model.config.get("training") or {}).get("encoder_sha256")


def _load_decoders(method: str, decoders: Sequence[str | os.PathLike[str] | StyleModel],
                   device: torch.device, encoder: StyleModel | None = None
                   ) -> dict[str, StyleModel]:
    given: dict[str, StyleModel] = {}
    for source in decoders:
        model = source if isinstance(source, StyleModel) else load_model(source, device)
        if model.kind != "decoder":
            raise InvalidOption(f"{model.name} is a {model.kind} model, not a decoder")
        layer = str(model.params.get("layer", "relu4_1"))
        given[layer] = model
    if encoder is not None:
        if method != "adain":
            raise InvalidOption("a distilled encoder (--encoder) goes with --method adain")
        if "relu4_1" not in given:
            name = paired_model(encoder.name, "decoder")
            if name is None:
                raise InvalidOption(f"give --decoder: a decoder trained on {encoder.name}'s "
                                    "features (impasto train-decoder --encoder ...)")
            given["relu4_1"] = load_shipped(name, device)
    wanted = encoder.sha256 if encoder is not None else None
    for model in given.values():
        if decoder_encoder(model) != wanted:
            raise InvalidOption(
                f"decoder {model.name} was trained on "
                f"{'a distilled encoder' if decoder_encoder(model) else 'VGG-19'}'s features, "
                f"not on {encoder.name if encoder is not None else 'VGG-19'}'s (--encoder)")
    extra = sorted(set(given) - set(LAYERS[method]))
    if extra:
        raise InvalidOption(f"--method {method} has no use for a decoder of {', '.join(extra)}")
    found: dict[str, StyleModel] = {}
    defaults = default_decoders(method)
    for layer in LAYERS[method]:
        if layer not in given and layer not in defaults:
            continue  # an optional level (WCT's relu5_1): runs when a decoder is given
        if layer in given:
            found[layer] = given[layer]
            continue
        name = defaults[layer]
        try:
            found[layer] = load_shipped(name, device)
        except InvalidOption:
            raise InvalidOption(f"--method {method} needs a decoder for {layer}; {name} does not "
                                "ship with this install (train one: impasto train-decoder "
                                f"--layer {layer} ...)") from None
    return found


class ArbitraryStylizer:
    """An encoder and the decoders of one method, loaded once for many pictures.

    Args:
        method: ``"adain"`` or ``"wct"``.
        decoders: decoder model folders (or loaded models) to use instead of the shipped ones.
        precision: ``"fp32"`` or ``"bf16"``/``"fp16"`` for the encoder and the decoders (the
            transforms always run in float32 / float64).
        patch: the largest side stylised in one piece; larger pictures go in patches.
        encoder: ``"vgg19"``, or a distilled encoder (folder, shipped name or loaded model)
            for AdaIN: some 15 times less work than VGG-19, with the decoder distilled for it.
    """

    def __init__(self, method: str = "adain", *, device: torch.device | str = "cpu",
                 decoders: Sequence[str | os.PathLike[str] | StyleModel] = (),
                 precision: str = "fp32", patch: int = DEFAULT_PATCH,
                 channels_last: bool = False,
                 encoder: str | os.PathLike[str] | StyleModel = "vgg19") -> None:
        self.method = check_method(method)
        self.device = torch.device(device)
        self.precision = precision
        check_patch(patch)
        self.patch = patch
        self.encoder = (None if isinstance(encoder, str) and encoder == "vgg19"
                        else load_encoder(encoder, self.device))
        self.decoders = _load_decoders(self.method, decoders, self.device, self.encoder)
        self.layers = tuple(layer for layer in LAYERS[self.method] if layer in self.decoders)
        # One trimmed encoder per layer (they share the decoded weights), so each level of the
        # cascade stops where its features are.
        self.encoders: dict[str, torch.nn.Module] = (
            {"relu4_1": _Named("relu4_1", self.encoder.net)} if self.encoder is not None
            else {layer: VGG19([layer]).to(self.device) for layer in self.layers})
        # oneDNN's convolutions prefer channels-last (NHWC) on CPUs (docs/benchmarks.md).
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            for net in [*self.encoders.values(), *(m.net for m in self.decoders.values())]:
                net.to(memory_format=torch.channels_last)

    # ----------------------------------------------------------------------- statistics

    def _encode(self, layer: str, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), autocast(self.precision, self.device):
            x = x.contiguous(memory_format=self.memory_format)
            return self.encoders[layer](x)[layer].float()

    def _decode(self, layer: str, f: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), autocast(self.precision, self.device):
            f = f.contiguous(memory_format=self.memory_format)
            return self.decoders[layer].net(f).float().contiguous()

    def _stats(self, f: torch.Tensor, weight: torch.Tensor | None = None) -> Stats:
        return T.mean_std(f, weight) if self.method == "adain" else T.mean_cov(f, weight)

    def describe(self) -> dict[str, Any]:
        """What a style's statistics depend on besides the picture (a cache's key)."""
        return {"method": self.method, "layers": list(self.layers),
                "encoder": describe_encoder(self), "precision": self.precision,
                "device": self.device.type,
                "channels_last": self.memory_format == torch.channels_last}

    def style_stats(self, style: torch.Tensor) -> StyleStats:
        """Statistics of a (1, 3, H, W) style picture at every layer of the method."""
        style = style.to(self.device).float()
        return StyleStats({layer: self._stats(self._encode(layer, style))
                           for layer in self.layers})

    def _transform(self, f: torch.Tensor, content: Stats, style: Stats) -> torch.Tensor:
        if self.method == "adain":
            assert isinstance(content, T.MeanStd) and isinstance(style, T.MeanStd)
            return T.adain(f, style, content)
        assert isinstance(content, T.MeanCov) and isinstance(style, T.MeanCov)
        return T.wct(f, style, content)

    # ----------------------------------------------------------------------- one level

    def _level(self, layer: str, x: torch.Tensor, styles: list[StyleStats],
               weights: list[float], regions: list[tuple[torch.Tensor, int]],
               strength: float, fixed: dict[str, list[Stats]] | None,
               record: dict[str, list[Stats]] | None) -> torch.Tensor:
        """Encode ``x`` at ``layer``, transform, decode."""
        f = self._encode(layer, x)
        size = tuple(f.shape[-2:])
        masks = [downsample_mask(m.to(f.device), size) for m, _ in regions]
        parts: list[tuple[torch.Tensor | None, list[int], list[float]]] = []
        if masks:
            # Each masked region takes its style, with the content statistics of its own
            # pixels (Huang and Belongie 2017, spatial control); the rest of the picture blends
            # the unmasked styles, or keeps the content where every style has a mask.
            masks = normalise_region_masks(masks)
            rest = (1.0 - torch.stack(masks).sum(0)).clamp_min(0.0)
            masked = {k for _, k in regions}
            others = [k for k in range(len(styles)) if k not in masked]
            for m, (_, k) in zip(masks, regions, strict=True):
                parts.append((m, [k], [1.0]))
            parts.append((rest, others, [weights[k] for k in others]))
        else:
            parts.append((None, list(range(len(styles))), weights))
        content_stats: list[Stats] = []
        out = torch.zeros_like(f)
        for index, (mask, ks, ws) in enumerate(parts):
            if fixed is not None:
                stats = fixed[layer][index]
            else:
                stats = self._stats(f, mask if mask is not None and float(mask.sum()) > 0
                                    else None)
            content_stats.append(stats)
            if ks and sum(ws) > 0:
                total = sum(ws)
                mixed = sum(w / total * self._transform(f, stats, styles[k].layers[layer])
                            for k, w in zip(ks, ws, strict=True))
            else:
                mixed = f
            out = out + (mixed if mask is None else mask * mixed)
        if record is not None:
            record[layer] = content_stats
        # Huang and Belongie's (and Li et al.'s) content-style trade-off: interpolate features.
        t = strength * out + (1.0 - strength) * f
        return self._decode(layer, t)

    def _cascade(self, x: torch.Tensor, styles: list[StyleStats], weights: list[float],
                 regions: list[tuple[torch.Tensor, int]], strength: float,
                 fixed: dict[str, list[Stats]] | None = None,
                 record: dict[str, list[Stats]] | None = None) -> torch.Tensor:
        h, w = x.shape[-2:]
        margin = min(MARGIN, h - 1, w - 1)  # reflection needs a margin under the side
        if margin > 0:
            x = F.pad(x, (margin,) * 4, mode="reflect")
        padded, (ph, pw) = pad_to(x, PAD_MULTIPLE)
        pads = (margin, padded.shape[-1] - pw + margin, margin, padded.shape[-2] - ph + margin)
        padded_regions = [(F.pad(m, pads, mode="replicate"), k) for m, k in regions]
        cur = padded
        for layer in self.layers:
            cur = self._level(layer, cur, styles, weights, padded_regions, strength, fixed,
                              record).clamp(0.0, 1.0)
        return cur[..., margin:margin + h, margin:margin + w]

    # ----------------------------------------------------------------------- pictures

    def stylize_tensor(self, content: torch.Tensor, styles: Sequence[StyleStats], *,
                       weights: Sequence[float] | None = None,
                       regions: Sequence[tuple[torch.Tensor, int]] = (),
                       strength: float = 1.0) -> torch.Tensor:
        """(1, 3, H, W) content in [0, 1] -> stylised (1, 3, H, W) on the CPU.

        ``weights`` interpolate between several styles; ``regions`` are (mask (1, 1, H, W),
        style index from 0): that style only where the mask is white.
        """
        if not styles:
            raise InvalidOption("give at least one style picture")
        weights = list(weights) if weights is not None else [1.0] * len(styles)
        check_blend(tuple(weights), len(styles))
        check_strength(strength)
        x = content.to(self.device).float()
        regions = [(m.to(self.device).float(), k) for m, k in regions]
        styles = list(styles)
        h, w = x.shape[-2:]
        if not self.patch or max(h, w) <= self.patch:
            return self._cascade(x, styles, weights, regions, strength).cpu()
        # URST: statistics of the content at every layer from a thumbnail ...
        small = fit_long_side(h, w, self.patch)
        thumb_regions = [(resize_mask(m, small), k) for m, k in regions]
        record: dict[str, list[Stats]] = {}
        self._cascade(resize(x, small), styles, weights, thumb_regions, strength, record=record)
        # ... then every patch with those statistics, blended across the overlaps.
        return self._patches(x, styles, weights, regions, strength, record)

    def _patches(self, x: torch.Tensor, styles: list[StyleStats], weights: list[float],
                 regions: list[tuple[torch.Tensor, int]], strength: float,
                 fixed: dict[str, list[Stats]]) -> torch.Tensor:
        h, w = x.shape[-2:]
        out = torch.zeros(1, 3, h, w)
        total = torch.zeros(1, 1, h, w)
        for top in _starts(h, self.patch):
            for left in _starts(w, self.patch):
                bottom, right = min(top + self.patch, h), min(left + self.patch, w)
                window = x[..., top:bottom, left:right]
                window_regions = [(m[..., top:bottom, left:right], k) for m, k in regions]
                y = self._cascade(window, styles, weights, window_regions, strength,
                                  fixed=fixed).cpu()
                ramp = _ramp(bottom - top, right - left, top > 0, bottom < h, left > 0,
                             right < w)
                out[..., top:bottom, left:right] += y * ramp
                total[..., top:bottom, left:right] += ramp
        return out / total.clamp_min(1e-8)


class _Named(torch.nn.Module):
    """A single-output encoder with VGG19's interface: ``{layer: features}``."""

    def __init__(self, layer: str, net: torch.nn.Module) -> None:
        super().__init__()
        self.layer, self.net = layer, net

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {self.layer: self.net(x)}


def _starts(length: int, patch: int) -> list[int]:
    """Patch origins along one side: patches of ``patch`` px overlapping by at least OVERLAP."""
    if length <= patch:
        return [0]
    step = patch - OVERLAP
    n = math.ceil((length - OVERLAP) / step)
    # Spread the patches evenly so every overlap is at least OVERLAP.
    return [round(i * (length - patch) / (n - 1)) for i in range(n)]


def _ramp(h: int, w: int, top: bool, bottom: bool, left: bool, right: bool) -> torch.Tensor:
    """Blending weights of one patch: rising linearly over OVERLAP px on the sides that have a
    neighbour, 1 elsewhere."""

    def axis(n: int, start: bool, end: bool) -> torch.Tensor:
        t = torch.ones(n)
        ramp = (torch.arange(OVERLAP, dtype=torch.float32) + 0.5) / OVERLAP
        k = min(OVERLAP, n)
        if start:
            t[:k] = torch.minimum(t[:k], ramp[:k])
        if end:
            t[n - k:] = torch.minimum(t[n - k:], ramp[:k].flip(0))
        return t

    return (axis(h, top, bottom)[:, None] * axis(w, left, right)[None, :])[None, None]


def describe_decoders(stylizer: ArbitraryStylizer) -> dict[str, Any]:
    """What the provenance record says about the decoders used."""
    return {layer: {"name": m.name, "sha256": m.sha256}
            for layer, m in stylizer.decoders.items()}


def describe_encoder(stylizer: ArbitraryStylizer) -> dict[str, Any]:
    """What the provenance record says about the encoder used."""
    from impasto.features.weights import WEIGHTS_SHA256

    m = stylizer.encoder
    return ({"name": "VGG-19", "sha256": WEIGHTS_SHA256} if m is None
            else {"name": m.name, "sha256": m.sha256})
