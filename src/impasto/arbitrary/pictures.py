"""TEMPORARY: the picture front end of AdaIN / WCT, until impasto.pipeline takes it over."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from impasto.arbitrary.core import (
    ArbitraryStylizer,
    StyleStats,
    describe_decoders,
    describe_encoder,
)
from impasto.config.render import DEFAULT_PATCH
from impasto.errors import InvalidOption
from impasto.image.resize import fit_long_side, resize
from impasto.models.store import StyleModel

#: Long side the style pictures are read at (Huang and Belongie 2017 train at 512).
STYLE_SIZE = 512


@dataclass(frozen=True)
class PreparedStyle:
    """A style picture's statistics, and where it came from (for the provenance record)."""

    stats: StyleStats
    record: dict[str, Any]


class ArbitraryPictures:
    """Pictures in, pictures out: :class:`ArbitraryStylizer` with reading, resizing, masks,
    colour preservation and the provenance record. The API behind ``impasto stylize
    --method adain|wct``."""

    def __init__(self, method: str = "adain", *, device: str = "cpu",
                 decoders: Sequence[str | os.PathLike[str] | StyleModel] = (),
                 precision: str = "fp32", patch: int = DEFAULT_PATCH,
                 max_pixels: int | None = None, channels_last: bool | None = None,
                 encoder: str | os.PathLike[str] | StyleModel = "vgg19") -> None:
        from impasto.image.io import DEFAULT_MAX_PIXELS
        from impasto.runtime.device import resolve_device
        from impasto.runtime.precision import resolve_precision

        dev = resolve_device(device)
        # Autocast here: bf16 on CPUs that do it well, fp16 on GPUs; the transforms stay
        # float32 / float64 either way.
        self.precision = resolve_precision(precision, dev)
        if channels_last is None:  # faster on CPUs (docs/benchmarks.md)
            channels_last = dev.type == "cpu"
        self.core = ArbitraryStylizer(method, device=dev, decoders=decoders,
                                      precision=self.precision, patch=patch,
                                      channels_last=channels_last, encoder=encoder)
        self.max_pixels = max_pixels or DEFAULT_MAX_PIXELS

    def prepare(self, styles: Sequence[Any], *, style_size: int = STYLE_SIZE
                ) -> list[PreparedStyle]:
        """Read the style pictures and compute their statistics once (for many contents)."""
        from impasto.image.io import open_image, split_alpha, to_tensor
        from impasto.provenance import source_record

        if not styles:
            raise InvalidOption("give at least one style picture")
        out = []
        for number, source in enumerate(styles, start=1):
            rgb, _ = split_alpha(open_image(source, max_pixels=self.max_pixels,
                                            name=f"style {number}"))
            x = to_tensor(rgb)
            x = resize(x, fit_long_side(x.shape[-2], x.shape[-1],
                                        min(style_size, max(x.shape[-2:]))))
            out.append(PreparedStyle(self.core.style_stats(x), source_record(source, rgb)))
        return out

    def __call__(self, content: Any, styles: Sequence[Any] | Sequence[PreparedStyle], *,
                 strength: float = 1.0, style_blend: Sequence[float] | None = None,
                 masks: Sequence[tuple[Any, int]] = (), preserve_color: str = "none",
                 size: int | None = None) -> Any:
        """Stylise ``content`` (a path, PIL image or array) with ``styles`` (pictures, or what
        :meth:`prepare` made of them). ``masks`` are (mask, style number from 1). Returns a
        :class:`impasto.feedforward.NetworkResult`."""
        import json
        import time

        from impasto._version import __version__
        from impasto.feedforward import NetworkResult
        from impasto.image.color import finish
        from impasto.image.io import open_image, split_alpha, to_pil, to_tensor, with_alpha
        from impasto.image.masks import load_mask
        from impasto.provenance import METADATA_KEY, source_record

        started = time.perf_counter()
        prepared = (list(styles) if styles and all(isinstance(s, PreparedStyle) for s in styles)
                    else self.prepare(list(styles)))
        rgb, alpha = split_alpha(open_image(content, max_pixels=self.max_pixels,
                                            name="content"))
        x = to_tensor(rgb)
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 16:
                raise InvalidOption(f"size must be an integer of at least 16, not {size!r}")
            x = resize(x, fit_long_side(x.shape[-2], x.shape[-1], size))
        if x.shape[-2] * x.shape[-1] > self.max_pixels:
            raise InvalidOption(f"--size {size} makes {x.shape[-1]}x{x.shape[-2]}, over the "
                                f"limit of {self.max_pixels} pixels (--max-pixels)")
        regions = []
        for source, number in masks:
            if not isinstance(number, int) or not 1 <= number <= len(prepared):
                raise InvalidOption(f"mask style number must be from 1 to {len(prepared)}, "
                                    f"not {number!r}")
            regions.append((load_mask(source, size=tuple(x.shape[-2:]), name="mask"),
                            number - 1))
        out = self.core.stylize_tensor(x, [p.stats for p in prepared], weights=style_blend,
                                       regions=regions, strength=strength)
        out = finish(out, x, strength=1.0, preserve_color=preserve_color)
        seconds = time.perf_counter() - started
        image, alpha = with_alpha(to_pil(out), alpha)
        method = self.core.method
        record: dict[str, Any] = {
            "software": f"impasto {__version__}",
            "method": ("AdaIN (Huang and Belongie 2017)" if method == "adain"
                       else "WCT (Li et al. 2017)"),
            "encoder": describe_encoder(self.core),
            "decoders": describe_decoders(self.core),
            "options": {"strength": strength, "style_blend": list(style_blend or []) or None,
                        "preserve_color": preserve_color, "size": size,
                        "precision": self.precision,
                        "patches": bool(self.core.patch
                                        and max(x.shape[-2:]) > self.core.patch)},
            "masks": [{"style": k + 1} for _, k in regions] or None,
            "device": self.core.device.type,
            "seconds": round(seconds, 4),
            "content": source_record(content, rgb),
            "styles": [p.record for p in prepared],
        }
        return NetworkResult(image=image, tensor=out, alpha=alpha, seconds=seconds,
                             metadata={METADATA_KEY: json.dumps(record, sort_keys=True)})
