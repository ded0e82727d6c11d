"""Prepared style targets: a built-in style's per-layer targets (Gram matrices by default) at
one scale's size, kept in the user's cache (:mod:`impasto.runtime.cache`) so that a later run
at that size encodes no style. An entry is keyed by the style's SHA-256, its size, the layers,
loss, pooling, padding, precision and device kind, and the code that makes it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import torch

from impasto.features.vgg import VGG19
from impasto.runtime.cache import cache_key, code_hash, load_tensors, save_tensors

#: The cache folder (shared with the AdaIN / WCT statistics of built-in styles).
CACHE_KIND = "styles"


@lru_cache(maxsize=1)
def _code() -> str:
    from impasto.features import vgg, weights
    from impasto.losses import families, functional, style
    from impasto.optim import objective

    return code_hash(vgg, weights, families, functional, style, objective)


def _key(style_key: str, style: torch.Tensor, vgg: VGG19, layers: Sequence[str],
         style_loss: str, precision: str) -> str:
    return cache_key({"kind": "style-targets", "style": style_key,
                      "shape": list(style.shape), "layers": list(layers), "loss": style_loss,
                      "pooling": vgg.pooling, "padding": vgg.padding_mode,
                      "precision": precision, "device": style.device.type, "code": _code()})


def _to(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, Mapping):
        return {k: _to(v, device) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to(v, device) for v in value)
    return value


@dataclass
class PreparedStyles:
    """The styles of one scale: each a picture, or its targets from the cache; :meth:`keep`
    stores the targets the objective made for the pictures that have a key."""

    styles: list[torch.Tensor | dict[str, Any]]
    missing: dict[int, str] = field(default_factory=dict)
    found: int = 0

    def keep(self, targets: Sequence[Mapping[str, Any]]) -> None:
        for index, key in self.missing.items():
            save_tensors(CACHE_KIND, key, _to(dict(targets[index]), torch.device("cpu")))


def prepare(styles: Sequence[torch.Tensor], keys: Sequence[str | None], vgg: VGG19,
            layers: Sequence[str], style_loss: str, precision: str) -> PreparedStyles:
    """``styles`` with the cached targets of those whose key (a built-in style's SHA-256)
    has an entry at this size."""
    out = PreparedStyles(list(styles))
    for index, (style, key) in enumerate(zip(styles, keys, strict=False)):
        if key is None:
            continue
        entry = _key(key, style, vgg, layers, style_loss, precision)
        found = load_tensors(CACHE_KIND, entry)
        if isinstance(found, dict) and set(found) == set(layers):
            out.styles[index] = _to(found, style.device)
            out.found += 1
        else:
            out.missing[index] = entry
    return out
