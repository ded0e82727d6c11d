"""The PyTorch methods behind :class:`~impasto.pipeline.Pipeline` (optimisation, AdaIN and
WCT; trained networks are :mod:`impasto.pipeline.network`): each takes the pictures a request
read and its options, keeps what is costly to load (networks, style statistics) across calls,
and returns the picture as a tensor and what the provenance record says of the method. The
pipeline imports this module when a request first needs one of them."""

from __future__ import annotations

import dataclasses
import functools
import secrets
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch

from impasto.arbitrary.core import (
    ArbitraryStylizer,
    StyleStats,
    describe_decoders,
    describe_encoder,
)
from impasto.config import ArbitraryOptions, TransferConfig
from impasto.events import CallbackLike, CancelToken, Progress
from impasto.features.vgg import VGG19
from impasto.features.weights import WEIGHTS_SHA256
from impasto.image import color
from impasto.image.faces import detect_faces, face_mask
from impasto.image.finish import finish
from impasto.image.masks import load_mask
from impasto.image.resize import fit_long_side, resize, resize_mask
from impasto.models.store import StyleModel
from impasto.optim.pyramid import scale_sides
from impasto.optim.transfer import TransferInputs, run_transfer
from impasto.pipeline.inputs import Picture, fit_size, mask_name, read_masks, read_picture
from impasto.pipeline.rendered import Rendered
from impasto.pipeline.request import Request
from impasto.pipeline.sizes import STYLE_SIZE, style_scale
from impasto.runtime.cache import cache_key, code_hash, load_tensors, save_tensors
from impasto.runtime.memory import memory_budget
from impasto.runtime.policy import Runtime, choose_runtime

#: VGG-19 padding for each ``wrap`` of the optimiser (circular padding wraps the features).
PADDING_FOR_WRAP = {"none": "zeros", "both": "circular", "x": "circular_x"}
#: Style statistics kept per arbitrary-style stylizer (a folder of contents reuses them).
STATS_CACHE = 16
#: The user's cache folder of built-in styles' prepared statistics.
STYLE_CACHE = "styles"


#: The largest long side of the AdaIN start (the coarsest scale is far smaller).
START_MAX_SIDE = 512


class OptimizeEngine:
    """Optimisation-based transfer (Gatys et al. 2016): VGG-19 kept per layer set; with
    ``init="adain"`` it starts from the AdaIN picture that ``arbitrary`` paints."""

    def __init__(self, arbitrary: ArbitraryEngine) -> None:
        self._vgg: dict[tuple[Any, ...], VGG19] = {}
        self.arbitrary = arbitrary

    def network(self, layers: list[str], pooling: str, padding: str,
                runtime: Runtime) -> VGG19:
        """VGG-19 to the deepest of ``layers``, on the runtime's device and in its memory
        format (its features, and so the whole forward and backward, follow the weights')."""
        key = (tuple(sorted(set(layers))), pooling, padding, str(runtime.device),
               runtime.channels_last)
        if key not in self._vgg:
            vgg = VGG19(list(key[0]), pooling=pooling,  # type: ignore[arg-type]
                        padding_mode=padding)  # type: ignore[arg-type]
            self._vgg[key] = vgg.to(runtime.device, memory_format=runtime.memory_format)
        return self._vgg[key]

    def run(self, request: Request, content: Picture | None, styles: list[Picture],
            runtime: Runtime, callback: CallbackLike | None,
            cancel: CancelToken | None) -> Rendered:
        cfg: TransferConfig = request.options
        # The options as they ran say which start ``auto`` was, and which style scale.
        cfg = cfg.replace(init="picture" if request.init is not None
                          else cfg.start(content is not None),
                          style_scale=style_scale(cfg, styles))
        dev = runtime.device
        init = None
        if request.init is not None or cfg.init not in ("content", "noise", "adain"):
            source = request.init if request.init is not None else cfg.init
            init = read_picture(source, "init", request.max_pixels).tensor.to(dev)
        regions: list[tuple[torch.Tensor, int]] = []
        protections: list[tuple[torch.Tensor, float]] = []
        records: list[dict[str, Any]] = []
        if content is not None:
            regions, records = read_masks(request.masks, content.size, request.max_pixels)
            regions = [(m.to(dev), k) for m, k in regions]
            for source, weight in request.protect:
                mask = load_mask(source, size=content.size, name="protect mask",
                                 max_pixels=request.max_pixels)
                protections.append((mask.to(dev), float(weight)))
                records.append({"name": mask_name(source), "protect": float(weight)})
            if request.protect_faces is not None:
                boxes = detect_faces(content.tensor)
                protections.append((face_mask(content.tensor, boxes=boxes).to(dev),
                                    float(request.protect_faces)))
                records.append({"name": "<faces>", "protect": float(request.protect_faces),
                                "faces": [list(b) for b in boxes]})
        parts: dict[str, Any] = {"masks": records or None,
                                 "encoder": {"name": "VGG-19", "sha256": WEIGHTS_SHA256}}
        if request.temporal is not None:
            parts["temporal_loss"] = {"weight": request.temporal.weight,
                                      "trusted": round(float(request.temporal.trust.mean()), 4)}
        if cfg.init == "adain":
            assert content is not None  # the request checks it
            init, parts["init"] = self.adain_start(cfg, content, styles, regions, runtime)
        if cfg.seed is None:
            cfg = cfg.replace(seed=secrets.randbelow(2**31))
        vgg = self.network(list(cfg.content_layers) + list(cfg.style_layers), cfg.pooling,
                           PADDING_FOR_WRAP[cfg.wrap], runtime)
        out = run_transfer(
            vgg,
            TransferInputs(content=None if content is None else content.tensor.to(dev),
                           styles=[s.tensor.to(dev) for s in styles], init=init,
                           regions=regions, protect=protections,
                           style_keys=[s.record["sha256"] if s.record.get("builtin") else None
                                       for s in styles],
                           temporal=request.temporal,
                           lbfgs_memory=request.lbfgs_memory),
            cfg, seed=int(cfg.seed), precision=runtime.precision,  # type: ignore[arg-type]
            callback=_tagged(callback, "optimize"), cancel=cancel,
            memory_budget=memory_budget(cfg.max_memory, dev),
        ).cpu()
        return Rendered(out, cfg, parts, "optimize" if content is not None else "texture")

    def adain_start(self, cfg: TransferConfig, content: Picture, styles: list[Picture],
                    regions: list[tuple[torch.Tensor, int]], runtime: Runtime
                    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """The AdaIN picture of the content (at most the output's size) in the styles, with
        the same blend and masks: the start of a progressive run, and what the record says of
        it."""
        h, w = content.size
        # Only the coarsest scale starts from it, so a print-size run paints it no larger than
        # that scale or the default output, whichever is larger.
        side = min(cfg.size, max(h, w),
                   max(START_MAX_SIDE, scale_sides(cfg.size, cfg.scales)[0]))
        x = resize(content.tensor, fit_long_side(h, w, side))
        size = (int(x.shape[-2]), int(x.shape[-1]))
        opts = ArbitraryOptions(style_blend=cfg.style_blend, precision=cfg.precision,
                                preserve_color=cfg.preserve_color)
        painted, core = self.arbitrary.paint(
            "adain", opts, choose_runtime("arbitrary", runtime.device, precision=cfg.precision),
            x, styles, [(resize_mask(m.cpu(), size), k) for m, k in regions])
        if cfg.preserve_color == "luminance":
            # The optimiser's styles get the content's luminance mean and spread (run_transfer);
            # so does its start.
            painted = color.match_luminance_stats(color.luminance(painted),
                                                  color.luminance(x)).expand(-1, 3, -1, -1)
        return painted.to(runtime.device), {"method": "adain",
                                            "encoder": describe_encoder(core),
                                            "decoders": describe_decoders(core)}


class ArbitraryEngine:
    """AdaIN and WCT: encoders and decoders loaded once per method, decoders, encoder and
    runtime; each style's statistics computed once per picture (by its SHA-256)."""

    def __init__(self) -> None:
        self._cores: dict[tuple[Any, ...], ArbitraryStylizer] = {}
        self._stats: OrderedDict[tuple[Any, ...], StyleStats] = OrderedDict()

    def core(self, method: str, opts: ArbitraryOptions, runtime: Runtime) -> ArbitraryStylizer:
        key = (method, tuple(_key(d) for d in opts.decoders), _key(opts.encoder), opts.patch,
               *runtime.to_dict().values())
        if key not in self._cores:
            self._cores[key] = ArbitraryStylizer(
                method, device=runtime.device, decoders=opts.decoders,
                precision=runtime.precision, patch=opts.patch,
                channels_last=runtime.channels_last, encoder=opts.encoder)
        return self._cores[key]

    def style_stats(self, core: ArbitraryStylizer, style: Picture) -> StyleStats:
        key = (id(core), style.record["sha256"], style.size)
        if key not in self._stats:
            self._stats[key] = self._prepared(core, style)
            while len(self._stats) > STATS_CACHE:
                self._stats.popitem(last=False)
        self._stats.move_to_end(key)
        return self._stats[key]

    @staticmethod
    def _prepared(core: ArbitraryStylizer, style: Picture) -> StyleStats:
        """A style's statistics; a built-in style's are kept in the user's cache, so a later
        process encodes no style (a damaged or foreign entry is made again)."""
        entry = None
        if style.record.get("builtin"):
            entry = cache_key({"kind": "arbitrary-stats", "style": style.record["sha256"],
                               "size": list(style.size), "style_size": STYLE_SIZE,
                               **core.describe(), "code": _stats_code()})
            found = load_tensors(STYLE_CACHE, entry)
            if found is not None:
                try:
                    stats = StyleStats.from_tensors(found, core.device)
                except (KeyError, TypeError, AttributeError):
                    stats = None
                if stats is not None and set(stats.layers) == set(core.layers):
                    return stats
        x = style.tensor
        x = resize(x, fit_long_side(x.shape[-2], x.shape[-1], min(STYLE_SIZE, max(x.shape[-2:]))))
        stats = core.style_stats(x)
        if entry is not None:
            save_tensors(STYLE_CACHE, entry, stats.to_tensors())
        return stats

    def paint(self, method: str, opts: ArbitraryOptions, runtime: Runtime, x: torch.Tensor,
              styles: list[Picture], regions: list[tuple[torch.Tensor, int]]
              ) -> tuple[torch.Tensor, ArbitraryStylizer]:
        """(1, 3, H, W) content -> the stylised picture on the CPU, and the stylizer used."""
        core = self.core(method, opts, runtime)
        stats = [self.style_stats(core, s) for s in styles]
        out = core.stylize_tensor(x, stats, weights=opts.style_blend, regions=regions,
                                  strength=opts.strength)
        return finish(out, x, strength=1.0, preserve_color=opts.preserve_color), core

    def run(self, request: Request, content: Picture | None, styles: list[Picture],
            runtime: Runtime, callback: CallbackLike | None,
            cancel: CancelToken | None) -> Rendered:
        opts: ArbitraryOptions = request.options
        assert content is not None
        x = torch.from_numpy(fit_size(content.array, opts.size, request.max_pixels))
        regions, records = read_masks(request.masks, (int(x.shape[-2]), int(x.shape[-1])),
                                      request.max_pixels)
        if cancel is not None:
            cancel.raise_if_cancelled()
        out, core = self.paint(request.method, opts, runtime, x, styles, regions)
        parts = {"encoder": describe_encoder(core), "decoders": describe_decoders(core),
                 "masks": records or None,
                 "patches": bool(core.patch and max(x.shape[-2:]) > core.patch)}
        return Rendered(out, opts, parts, request.method)


@functools.lru_cache(maxsize=1)
def _stats_code() -> str:
    """The code a style's AdaIN / WCT statistics come from."""
    from impasto.arbitrary import core, transforms
    from impasto.features import vgg, weights
    from impasto.image import resize as resizing

    return code_hash(core, transforms, vgg, weights, resizing)


def _key(source: Any) -> Any:
    return id(source) if isinstance(source, StyleModel) else str(source)


def _tagged(callback: CallbackLike | None, method: str
            ) -> Callable[[Progress], None] | None:
    """``callback`` with each event marked with the run's method."""
    if callback is None:
        return None

    def forward(event: Progress) -> None:
        callback(dataclasses.replace(event, method=method))

    return forward
