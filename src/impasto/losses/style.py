"""Style-loss families behind one interface, registered by name.

* ``gram``: Gram matrices (Gatys et al. 2016); supports region masks (guided Gram matrices,
  Gatys et al. 2017).
* ``meancov``: Wasserstein-2 distance between Gaussian fits of the features (mean and
  covariance): steady across sizes, and several styles blend linearly.
* ``histogram``: per-channel histogram matching of the activations (Risser et al. 2017):
  steadier colour and contrast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from impasto.losses import families as FAM
from impasto.losses import functional as LF
from impasto.losses import guided as G


@dataclass(frozen=True)
class StyleFamily:
    """How one family turns features into a target, blends targets, and scores features."""

    name: str
    target: Callable[[torch.Tensor], Any]
    blend: Callable[[Sequence[Any], Sequence[float]], Any]
    loss: Callable[[torch.Tensor, Any], torch.Tensor]
    #: (features, mask, target) -> loss; None when the family has no region-masked form.
    guided_loss: Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor] | None = None


def _blend_grams(targets: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    return LF.blend_grams(list(targets), list(weights))


FAMILIES: dict[str, StyleFamily] = {
    "gram": StyleFamily("gram", LF.gram, _blend_grams, LF.gram_style_loss,
                        G.guided_style_loss),
    "meancov": StyleFamily("meancov", FAM.gaussian_target, FAM.blend_gaussians,
                           FAM.w2_style_loss),
    "histogram": StyleFamily("histogram", FAM.histogram_target, FAM.blend_histograms,
                             FAM.histogram_loss),
}


def family(name: str) -> StyleFamily:
    return FAMILIES[name]
