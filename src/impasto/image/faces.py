"""Face detection for face-aware masks, with scikit-image's bundled LBP frontal-face cascade
(local binary pattern features, Liao et al. 2007, "Learning Multi-scale Block Local Binary
Patterns for Face Recognition"; cascade of Viola and Jones 2001). No network is needed: the
cascade file ships with scikit-image.

A face mask lets spatial control (Gatys et al. 2017) keep a portrait's face closer to the
content, e.g. as a ``--protect`` mask.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from impasto.errors import InvalidOption

__all__ = ["Box", "detect_faces", "face_mask"]

Box = tuple[int, int, int, int]
"""A face box (x, y, width, height) in pixels of the picture passed in."""

#: Luminance weights (ITU-R BT.709, as scikit-image's rgb2gray).
_LUMA = (0.2125, 0.7154, 0.0721)

#: Weights of Cr - Cb (ITU-R BT.601 chroma): positive for warm (skin-like) colours, whatever
#: the skin's lightness; about 0 for grey and negative for blue.
_WARMTH = (0.6687, -0.0874, -0.5813)


@functools.lru_cache(maxsize=1)
def _cascade():  # -> skimage.feature.Cascade
    from skimage import data
    from skimage.feature import Cascade

    return Cascade(data.lbp_frontal_face_cascade_filename())


def _as_batch(image: torch.Tensor) -> torch.Tensor:
    """(1, 3, H, W) or (1, 1, H, W) float in [0, 1] -> (3 or 1, H, W) float32 on the CPU."""
    if image.dim() != 4 or image.shape[0] != 1 or image.shape[1] not in (1, 3):
        raise ValueError(f"expected a (1, 3, H, W) image, got shape {tuple(image.shape)}")
    return image.detach().to("cpu", torch.float32)[0].clamp(0.0, 1.0)


def _weighted(rgb: torch.Tensor, weights: tuple[float, float, float]) -> torch.Tensor:
    return rgb[0] * weights[0] + rgb[1] * weights[1] + rgb[2] * weights[2]


def _iou(a: Box, b: Box) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = min(ax + aw, bx + bw) - max(ax, bx)
    ih = min(ay + ah, by + bh) - max(ay, by)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / (aw * ah + bw * bh - inter)


def _merge(boxes: list[Box], threshold: float = 0.3) -> list[tuple[float, float, float, float]]:
    """Group boxes whose IoU exceeds ``threshold`` (transitively); average each group."""
    parent = list(range(len(boxes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            if _iou(boxes[i], boxes[j]) > threshold:
                parent[root(i)] = root(j)
    groups: dict[int, list[Box]] = {}
    for i, box in enumerate(boxes):
        groups.setdefault(root(i), []).append(box)
    return [
        tuple(sum(b[k] for b in group) / len(group) for k in range(4))  # type: ignore[misc]
        for group in groups.values()
    ]


def _plausible(rgb: torch.Tensor, boxes: list[Box]) -> list[Box]:
    """Drop boxes whose centre is no warmer than grey, in a colour picture.

    The LBP cascade responds to intensity patterns only and fires on e.g. bright reflections
    in a dark visor. Skin of every tone has Cr > Cb; the test is relative to the picture's
    median warmth, so a face under a cool colour cast still passes. Grey pictures are not
    tested.
    """
    if rgb.shape[0] != 3 or not boxes:
        return boxes
    spread = (rgb.max(dim=0).values - rgb.min(dim=0).values).flatten()
    if float(torch.quantile(spread[:: max(1, spread.numel() // 100_000)], 0.99)) < 0.03:
        return boxes
    warmth = _weighted(rgb, _WARMTH)
    threshold = min(0.05, float(warmth.median()) + 0.03)
    kept = []
    for x, y, w, h in boxes:
        core = warmth[y + h // 4 : y + h - h // 4, x + w // 4 : x + w - w // 4]
        if core.numel() and float(core.median()) >= threshold:
            kept.append((x, y, w, h))
    return kept


def detect_faces(
    image: torch.Tensor,
    *,
    max_side: int = 640,
    scale_factor: float = 1.2,
    step_ratio: float = 1.0,
    min_size: int = 24,
    min_neighbours: int = 4,
    colour_check: bool = True,
) -> list[Box]:
    """Find frontal faces in a (1, 3, H, W) picture in [0, 1]: boxes (x, y, w, h), largest first.

    Runs the LBP cascade on the luminance of a copy at most ``max_side`` px on its long side
    (boxes are scaled back), with windows from ``min_size`` px to the short side growing by
    ``scale_factor``; detections overlapping with IoU > 0.3 are merged. With ``colour_check``,
    boxes whose centre is not skin-warm (Cr > Cb) relative to the picture are dropped (see
    :func:`_plausible`); it removes false detections on grey objects.
    """
    rgb = _as_batch(image)
    height, width = rgb.shape[-2:]
    scale = min(1.0, max_side / max(height, width))
    small = rgb
    if scale < 1.0:
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        small = F.interpolate(rgb[None], size=size, mode="bilinear", align_corners=False,
                              antialias=True)[0].clamp_(0.0, 1.0)
    sh, sw = small.shape[-2:]
    if min(sh, sw) < min_size:
        return []
    luma = _weighted(small, _LUMA) if small.shape[0] == 3 else small[0]
    found = _cascade().detect_multi_scale(
        img=luma.numpy(),
        scale_factor=scale_factor,
        step_ratio=step_ratio,
        min_size=(min_size, min_size),
        max_size=(min(sh, sw), min(sh, sw)),
        min_neighbor_number=min_neighbours,
        intersection_score_threshold=0.5,
    )
    boxes: list[Box] = [(d["c"], d["r"], d["width"], d["height"]) for d in found]
    if colour_check:
        boxes = _plausible(small, boxes)
    sy, sx = height / sh, width / sw
    out: list[Box] = []
    for x, y, w, h in _merge(boxes):
        x0, y0 = max(0, round(x * sx)), max(0, round(y * sy))
        x1, y1 = min(width, round((x + w) * sx)), min(height, round((y + h) * sy))
        if x1 > x0 and y1 > y0:
            out.append((x0, y0, x1 - x0, y1 - y0))
    return sorted(out, key=lambda b: (-b[2] * b[3], b[1], b[0]))


def face_mask(
    image: torch.Tensor,
    *,
    grow: float = 0.25,
    feather: float = 0.15,
    boxes: list[Box] | None = None,
) -> torch.Tensor:
    """Soft mask (1, 1, H, W) in [0, 1] of the faces in ``image``; all 0 where there is none.

    Each face (from :func:`detect_faces`, or ``boxes``) gets an ellipse inscribed in its box
    grown by ``grow`` of the box's size, 1 inside, falling off outside as a gaussian of the
    distance with sigma ``feather`` times the box size (values under 1e-3 are set to 0); faces
    are combined by their maximum.
    """
    if not (math.isfinite(grow) and grow > -1.0):
        raise InvalidOption(f"face mask grow must be a finite number above -1, got {grow}")
    if not (math.isfinite(feather) and feather >= 0.0):
        raise InvalidOption(f"face mask feather must be a finite number >= 0, got {feather}")
    rgb = _as_batch(image)
    height, width = rgb.shape[-2:]
    if boxes is None:
        boxes = detect_faces(image)
    mask = torch.zeros(height, width)
    yy = torch.arange(height, dtype=torch.float32)[:, None] + 0.5
    xx = torch.arange(width, dtype=torch.float32)[None, :] + 0.5
    for x, y, w, h in boxes:
        a, b = max(0.5, (1.0 + grow) * w / 2), max(0.5, (1.0 + grow) * h / 2)
        r = torch.sqrt(((xx - (x + w / 2)) / a) ** 2 + ((yy - (y + h / 2)) / b) ** 2)
        outside = (r - 1.0).clamp_min(0.0) * (a + b) / 2  # ~ distance to the ellipse, px
        sigma = feather * (w + h) / 2
        hard = (outside == 0).float()
        value = torch.exp(-0.5 * (outside / sigma) ** 2) if sigma > 0 else hard
        mask = torch.maximum(mask, torch.where(value < 1e-3, 0.0, value))
    return mask[None, None]
