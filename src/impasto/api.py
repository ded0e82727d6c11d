"""The facade: one Python API that every front end (CLI, web, batch) calls.

>>> import impasto
>>> picture = impasto.stylize("photo.jpg", "painting.jpg", size=512, strength=0.6)
>>> picture.save("out.png")

For many calls, keep a :class:`Stylizer`: it holds the network between calls.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from impasto._version import __version__
from impasto.config import TransferConfig
from impasto.errors import InvalidOption
from impasto.events import CallbackLike, CancelToken
from impasto.features.vgg import VGG19
from impasto.image.faces import detect_faces, face_mask
from impasto.image.io import (
    DEFAULT_MAX_PIXELS,
    ImageSource,
    open_image,
    save_image,
    split_alpha,
    to_pil,
    to_tensor,
)
from impasto.image.masks import load_mask
from impasto.metrics.scores import Scorer, Scores
from impasto.optim.transfer import TransferInputs, run_transfer
from impasto.provenance import METADATA_KEY, source_record
from impasto.runtime.device import resolve_device
from impasto.runtime.memory import memory_budget
from impasto.runtime.precision import resolve_precision

_CONFIG_FIELDS = {f.name for f in dataclasses.fields(TransferConfig)}


@dataclass(frozen=True)
class StylizeResult:
    """A finished picture and how it was made."""

    image: Image.Image  # RGB, or RGBA when the content had an alpha channel
    tensor: torch.Tensor  # (1, 3, H, W) float in [0, 1] on the CPU, for 16-bit output
    alpha: Image.Image | None
    config: TransferConfig  # resolved: the seed that was used is filled in
    seconds: float
    device: str
    precision: str
    metadata: dict[str, str]

    def save(self, path: str | os.PathLike[str], *, bit_depth: int = 8) -> Path:
        """Write the picture (format by extension) with its provenance metadata, atomically."""
        return save_image(self.tensor, path, metadata=self.metadata, alpha=self.alpha,
                          bit_depth=bit_depth)


def build_config(config: TransferConfig | None, options: dict[str, Any]) -> TransferConfig:
    """Apply keyword options over a config; unknown names raise one clear error."""
    unknown = sorted(set(options) - _CONFIG_FIELDS)
    if unknown:
        raise InvalidOption(
            f"unknown option {unknown[0]!r}; options are: {', '.join(sorted(_CONFIG_FIELDS))}"
        )
    base = config or TransferConfig()
    for key in ("style_blend", "content_layers", "style_layers", "style_layer_weights"):
        if isinstance(options.get(key), list):
            options[key] = tuple(options[key])
    return base.replace(**options) if options else base


PADDING_FOR_WRAP = {"none": "zeros", "both": "circular", "x": "circular_x"}
MaskSource = ImageSource


class Stylizer:
    """Optimisation-based style transfer with the network kept loaded across calls.

    Args:
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, a ``torch.device``, or ``"auto"``.
        max_pixels: largest input picture accepted (decompression-bomb guard).
    """

    def __init__(self, device: str | torch.device = "cpu", *,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.device = resolve_device(device)
        self.max_pixels = max_pixels
        self._vgg: dict[tuple[tuple[str, ...], str, str], VGG19] = {}

    def network(self, layers: Sequence[str], pooling: str = "max",
                padding_mode: str = "zeros") -> VGG19:
        """The frozen VGG-19 for these layers (built once per layer set, pooling and padding)."""
        key = (tuple(sorted(set(layers))), pooling, padding_mode)
        if key not in self._vgg:
            self._vgg[key] = VGG19(list(key[0]), pooling=pooling,  # type: ignore[arg-type]
                                   padding_mode=padding_mode).to(self.device)  # type: ignore[arg-type]
        return self._vgg[key]

    def _load(self, source: ImageSource, name: str) -> tuple[torch.Tensor, Image.Image | None,
                                                            dict[str, Any]]:
        image = open_image(source, max_pixels=self.max_pixels, name=name)
        rgb, alpha = split_alpha(image)
        return to_tensor(rgb).to(self.device), alpha, source_record(source, image)

    def _mask(self, source: MaskSource, size: tuple[int, int], name: str
              ) -> tuple[torch.Tensor, dict[str, Any]]:
        mask = load_mask(source, size=size, name=name).to(self.device)
        record = {"name": Path(source).name if isinstance(source, str | os.PathLike)
                  else f"<{type(source).__name__}>"}
        return mask, record

    def stylize(
        self,
        content: ImageSource | None,
        styles: ImageSource | Sequence[ImageSource],
        config: TransferConfig | None = None,
        *,
        masks: Sequence[tuple[MaskSource, int]] = (),
        protect: Sequence[tuple[MaskSource, float]] = (),
        protect_faces: float | None = None,
        callback: CallbackLike | None = None,
        cancel: CancelToken | None = None,
        **options: Any,
    ) -> StylizeResult:
        """Render ``content`` in the style of one or more ``styles``.

        Options are the fields of :class:`~impasto.config.TransferConfig` (``size``,
        ``strength``, ``style_blend``, ``preserve_color``, ``style_loss``, ``wrap`` ...),
        applied over ``config``. ``masks`` are (mask, style number from 1): that style only
        where the mask is white (Gatys et al. 2017). ``protect`` are (mask, weight): the content
        weight is multiplied by ``weight`` where the mask is white; ``protect_faces=weight``
        does the same for the faces it finds. ``content=None`` synthesises a texture.
        """
        cfg = build_config(config, dict(options))
        style_list = _as_list(styles)
        if not style_list:
            raise InvalidOption("at least one style image is needed")
        if cfg.style_blend is not None and len(cfg.style_blend) != len(style_list):
            raise InvalidOption(
                f"style-blend has {len(cfg.style_blend)} weights for {len(style_list)} style images"
            )
        for _, number in masks:
            if not 1 <= number <= len(style_list):
                raise InvalidOption(f"a mask names style {number}; there are {len(style_list)} "
                                    "style images")
        if protect_faces is not None and not (protect_faces > 0 and math.isfinite(protect_faces)):
            raise InvalidOption(f"protect-faces weight must be > 0, not {protect_faces}")
        started = time.perf_counter()
        content_t, alpha, content_rec = (None, None, None)
        if content is not None:
            content_t, alpha, content_rec = self._load(content, "content")
        loaded = [self._load(s, f"style {i}" if len(style_list) > 1 else "style")
                  for i, s in enumerate(style_list, start=1)]
        init_t = None
        if cfg.init not in ("content", "noise"):
            init_t = self._load(cfg.init, "init")[0]
        regions, protections, mask_records = [], [], []
        if (masks or protect or protect_faces) and content_t is None:
            raise InvalidOption("masks and face protection need a content image")
        if content_t is not None:
            size = (int(content_t.shape[-2]), int(content_t.shape[-1]))
            for source, number in masks:
                mask, rec = self._mask(source, size, f"mask for style {number}")
                regions.append((mask, number - 1))
                mask_records.append({**rec, "style": number})
            for source, weight in protect:
                mask, rec = self._mask(source, size, "protect mask")
                protections.append((mask, float(weight)))
                mask_records.append({**rec, "protect": float(weight)})
            if protect_faces is not None:
                boxes = detect_faces(content_t)
                protections.append((face_mask(content_t, boxes=boxes), float(protect_faces)))
                mask_records.append({"name": "<faces>", "protect": float(protect_faces),
                                     "faces": [list(b) for b in boxes]})
        if cfg.seed is None:
            cfg = cfg.replace(seed=secrets.randbelow(2**31))
        precision = resolve_precision(cfg.precision, self.device)
        vgg = self.network(list(cfg.content_layers) + list(cfg.style_layers), cfg.pooling,
                           PADDING_FOR_WRAP[cfg.wrap])
        out = run_transfer(
            vgg,
            TransferInputs(content=content_t, styles=[t for t, _, _ in loaded], init=init_t,
                           regions=regions, protect=protections),
            cfg,
            seed=int(cfg.seed),  # type: ignore[arg-type]
            precision=precision,
            callback=callback,
            cancel=cancel,
            memory_budget=memory_budget(cfg.max_memory, self.device),
        ).cpu()
        seconds = time.perf_counter() - started
        picture = to_pil(out)
        if alpha is not None:
            alpha = alpha.resize(picture.size, Image.Resampling.LANCZOS)
            picture = picture.copy()
            picture.putalpha(alpha)
        record = {
            "software": f"impasto {__version__}",
            "method": "optimisation (Gatys et al. 2016)" if content is not None
            else "texture synthesis (Gatys et al. 2015)",
            "config": cfg.to_dict(),
            "precision": precision,
            "device": self.device.type,
            "seconds": round(seconds, 3),
            "content": content_rec,
            "styles": [rec for _, _, rec in loaded],
        }
        if mask_records:
            record["masks"] = mask_records
        metadata = {METADATA_KEY: json.dumps(record, sort_keys=True)}
        return StylizeResult(image=picture, tensor=out, alpha=alpha, config=cfg, seconds=seconds,
                             device=str(self.device), precision=precision, metadata=metadata)

    def texture(self, styles: ImageSource | Sequence[ImageSource],
                config: TransferConfig | None = None, **options: Any) -> StylizeResult:
        """Synthesise a ``size`` x ``size`` texture from the style(s) alone (no content);
        ``wrap="both"`` makes it tile seamlessly."""
        return self.stylize(None, styles, config, **options)


def _as_list(styles: ImageSource | Sequence[ImageSource]) -> list[ImageSource]:
    if isinstance(styles, str | os.PathLike | Image.Image | np.ndarray):
        return [styles]
    return list(styles)


def stylize(
    content: ImageSource,
    style_or_styles: ImageSource | Sequence[ImageSource],
    *,
    device: str | torch.device = "cpu",
    method: str = "gatys",
    callback: CallbackLike | None = None,
    cancel: CancelToken | None = None,
    **options: Any,
) -> Image.Image:
    """Render ``content`` in the style of one or more style images; return a PIL image.

    ``content`` and each style may be a path, a PIL image or an HxWx3 uint8 array.
    ``method="gatys"`` optimises the picture; its options are the fields of
    :class:`~impasto.config.TransferConfig`. ``method="adain"`` or ``"wct"`` renders in one
    pass with any style picture (:class:`impasto.arbitrary.ArbitraryPictures`); options are
    ``strength``, ``style_blend``, ``masks``, ``preserve_color``, ``size``, ``precision``,
    ``decoders`` and ``patch``. The returned image's ``info`` carries the provenance record
    under ``"impasto"``.
    """
    if method in ("adain", "wct"):
        from impasto.arbitrary.pictures import ArbitraryPictures

        own = {k: options.pop(k) for k in ("decoders", "precision", "patch") if k in options}
        allowed = {"strength", "style_blend", "masks", "preserve_color", "size"}
        unknown = sorted(set(options) - allowed)
        if unknown:
            takes = ", ".join(sorted(allowed | {"decoders", "precision", "patch"}))
            raise InvalidOption(f"method {method!r} takes no option {unknown[0]!r}; it takes "
                                f"{takes}")
        runner = ArbitraryPictures(method, device=str(device), **own)
        done = runner(content, _as_list(style_or_styles), **options)
        done.image.info.update(done.metadata)
        return done.image
    if method != "gatys":
        raise InvalidOption(f"method must be gatys, adain or wct, not {method!r}")
    result = Stylizer(device).stylize(content, style_or_styles, callback=callback,
                                      cancel=cancel, **options)
    result.image.info.update(result.metadata)
    return result.image


def score(
    content: ImageSource,
    style: ImageSource,
    output: ImageSource,
    *,
    device: str | torch.device = "cpu",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Scores:
    """Style, content, structure and colour distances of ``output`` (see :mod:`impasto.metrics`)."""
    dev = resolve_device(device)
    tensors = [
        to_tensor(split_alpha(open_image(src, max_pixels=max_pixels, name=name))[0])
        for src, name in ((content, "content"), (style, "style"), (output, "output"))
    ]
    return _scorer(str(dev)).score(*tensors)


@functools.lru_cache(maxsize=2)
def _scorer(device: str) -> Scorer:
    """One scoring network per device and process (score() is called once per output)."""
    return Scorer(torch.device(device))
