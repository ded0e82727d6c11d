"""Style, content, structure and colour distances of a stylised picture.

* ``style_distance``: relative Gram distance ``||G(out) - G(style)|| / ||G(style)||`` averaged
  over the style layers (relu1_1 ... relu5_1), with the style resized to the output's long side.
  Lower is closer to the style.
* ``content_distance``: relative feature distance at relu4_2, ``||F(out) - F(content)|| /
  ||F(content)||``, with the content resized to the output's size. Lower keeps more content.
* ``ssim``: structural similarity of the output's and the content's luminance (scikit-image).
  Higher keeps more structure.
* ``color_distance``: Hellinger distance between the joint RGB histograms (16 bins a channel) of
  the output and the style, in [0, 1]. Lower is closer to the style's palette.

All computed in float32, whatever precision made the picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from impasto.config import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS
from impasto.features.vgg import VGG19
from impasto.image.color import luminance
from impasto.image.resize import fit_long_side, resize
from impasto.losses.functional import gram

HIST_BINS = 16


@dataclass(frozen=True)
class Scores:
    style_distance: float
    content_distance: float
    ssim: float
    color_distance: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def color_histogram(image: torch.Tensor, bins: int = HIST_BINS) -> np.ndarray:
    """Normalised joint RGB histogram of a (1, 3, H, W) image in [0, 1]."""
    q = (image[0].clamp(0, 1) * (bins - 1e-6)).long().reshape(3, -1)
    index = (q[0] * bins + q[1]) * bins + q[2]
    hist = torch.bincount(index, minlength=bins**3).double()
    return (hist / hist.sum()).cpu().numpy()


def hellinger(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.sqrt(max(0.0, 1.0 - np.sum(np.sqrt(p * q)))))


def structure_similarity(a: torch.Tensor, b: torch.Tensor) -> float:
    """SSIM of the luminance of two (1, 3, H, W) images of the same size."""
    # Imported here: scikit-image pulls in SciPy, a third of a second at every start-up.
    from skimage.metrics import structural_similarity

    ya = luminance(a)[0, 0].double().cpu().numpy()
    yb = luminance(b)[0, 0].double().cpu().numpy()
    win = min(7, *ya.shape)
    if win % 2 == 0:
        win -= 1
    if win < 3:
        return float("nan")
    return float(structural_similarity(ya, yb, data_range=1.0, win_size=win))


def _relative(x: torch.Tensor, target: torch.Tensor) -> float:
    return float((x.float() - target.float()).norm() / target.float().norm().clamp_min(1e-12))


class Scorer:
    """Computes :class:`Scores`, keeping the network loaded across calls."""

    def __init__(
        self,
        device: torch.device | str = "cpu",
        *,
        style_layers: Sequence[str] = DEFAULT_STYLE_LAYERS,
        content_layers: Sequence[str] = DEFAULT_CONTENT_LAYERS,
    ) -> None:
        self.device = torch.device(device)
        self.style_layers = tuple(style_layers)
        self.content_layers = tuple(content_layers)
        self.vgg = VGG19(list(self.style_layers) + list(self.content_layers)).to(self.device)

    @torch.no_grad()
    def score(self, content: torch.Tensor, style: torch.Tensor, output: torch.Tensor) -> Scores:
        """Scores of ``output`` (all inputs (1, 3, H, W) float in [0, 1])."""
        output = output.to(self.device).float()
        size = tuple(output.shape[-2:])
        content = resize(content.to(self.device).float(), size)
        style = resize(style.to(self.device).float(),
                       fit_long_side(style.shape[-2], style.shape[-1], max(size)))
        f_out, f_content, f_style = self.vgg(output), self.vgg(content), self.vgg(style)
        style_d = [_relative(gram(f_out[n]), gram(f_style[n])) for n in self.style_layers]
        content_d = [_relative(f_out[n], f_content[n]) for n in self.content_layers]
        return Scores(
            style_distance=float(np.mean(style_d)),
            content_distance=float(np.mean(content_d)),
            ssim=structure_similarity(output, content),
            color_distance=hellinger(color_histogram(output), color_histogram(style)),
        )
