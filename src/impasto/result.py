"""The one result type every method returns: the picture and how it was made."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from impasto.image.io import to_pil, with_alpha
from impasto.image.save import save_image
from impasto.provenance import METADATA_KEY
from impasto.provenance.signing import ManifestSigner, resolve_signer
from impasto.runtime.policy import Runtime

if TYPE_CHECKING:
    import torch

    from impasto.metrics.scores import Scores


@dataclass(frozen=True)
class Result:
    """A finished picture: what :func:`impasto.render` returns for every method.

    ``pixels`` is the picture as (1, 3, H, W) float in [0, 1] on the CPU, a tensor or (from a
    network run in onnxruntime, which never loads PyTorch) a numpy array; ``tensor`` and
    ``array`` give it as one or the other (the same memory); ``image`` is the same
    picture as a PIL image (made when first asked for: a video frame never needs it), RGB, or
    RGBA when the content had an alpha channel (``content_alpha``); ``record`` is the
    provenance record written into the file's metadata; ``timings`` are seconds by phase
    (``load``, ``render``, ``total``); ``scores`` are there when the request asked for them.
    """

    pixels: torch.Tensor | np.ndarray
    method: str
    options: Any  # the resolved options object (the seed filled in, for optimisation)
    runtime: Runtime
    record: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    scores: Scores | None = None
    content_alpha: Image.Image | None = None

    @cached_property
    def tensor(self) -> torch.Tensor:
        import torch

        return torch.as_tensor(self.pixels)

    @cached_property
    def array(self) -> np.ndarray:
        if isinstance(self.pixels, np.ndarray):
            return self.pixels
        return self.pixels.detach().cpu().float().numpy()

    @cached_property
    def _picture(self) -> tuple[Image.Image, Image.Image | None]:
        return with_alpha(to_pil(self.pixels), self.content_alpha)

    @property
    def image(self) -> Image.Image:
        return self._picture[0]

    @property
    def alpha(self) -> Image.Image | None:
        """The content's alpha channel at the picture's size, or None."""
        return self._picture[1]

    @property
    def seconds(self) -> float:
        return self.timings.get("total", 0.0)

    @property
    def metadata(self) -> dict[str, str]:
        """The provenance record as the file metadata it is saved with."""
        return {METADATA_KEY: json.dumps(self.record, sort_keys=True, default=str)}

    @property
    def device(self) -> str:
        return str(self.runtime.device)

    @property
    def precision(self) -> str:
        return self.runtime.precision

    @property
    def config(self) -> Any:
        """The options object (its older name, for optimisation's ``TransferConfig``)."""
        return self.options

    def save(self, path: str | os.PathLike[str], *, bit_depth: int = 8,
             provenance: bool | ManifestSigner = True) -> Path:
        """Write the picture (format by extension) atomically with its provenance: the plain
        record in the file's metadata and a C2PA manifest signed by ``provenance`` (True:
        :func:`~impasto.provenance.signing.default_signer`, the configured certificate or the
        local test authority's). ``provenance=False`` writes neither."""
        signer = resolve_signer(provenance)
        if signer is None:
            return save_image(self.pixels, path, alpha=self.alpha, bit_depth=bit_depth)
        metadata = self.metadata
        record = json.loads(metadata[METADATA_KEY])  # exactly the plain record
        return save_image(self.pixels, path, metadata=metadata, alpha=self.alpha,
                          bit_depth=bit_depth, sign=signer.for_record(record))
