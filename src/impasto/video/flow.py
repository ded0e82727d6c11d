"""Optical flow between frames (OpenCV's DIS, no learned weights), warping along it, and where
it can be trusted (forward-backward consistency, Ruder et al. 2016).

Flows are (H, W, 2) float32 arrays in pixels: ``flow[y, x] = (dx, dy)`` says where the pixel
at (x, y) of the first frame is in the second. :func:`warp` pulls a picture along a flow: with
the flow from frame t to frame t-1, ``warp(picture_at_t_minus_1, flow)`` is that picture
moved to frame t.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from impasto.errors import InvalidOption

#: Long side at which flow is estimated (a frame larger than this is scaled down for it, and
#: the flow scaled back up): DIS at this size costs a few milliseconds a frame on one core.
FLOW_SIDE = 320


def _cv2():  # type: ignore[no-untyped-def]
    try:
        import cv2
    except ImportError:
        raise InvalidOption("video needs OpenCV: pip install 'impasto[video]'") from None
    return cv2


def grey(frame: np.ndarray, side: int = FLOW_SIDE) -> np.ndarray:
    """An (H, W, 3) uint8 RGB frame as the uint8 greyscale picture flow is estimated on, at
    most ``side`` px on its long side."""
    cv2 = _cv2()
    g = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    h, w = g.shape
    if max(h, w) > side:
        scale = side / max(h, w)
        g = cv2.resize(g, (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=cv2.INTER_AREA)
    return g


@dataclass
class FlowEstimator:
    """DIS optical flow (Kroeger et al. 2016), each call seeded with the flow it returned last
    (``seed``), at the size of the grey pictures it is given."""

    preset: str = "fast"

    def __post_init__(self) -> None:
        cv2 = _cv2()
        presets = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
                   "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                   "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
        if self.preset not in presets:
            raise InvalidOption(f"flow preset must be one of {', '.join(presets)}")
        self._dis = cv2.DISOpticalFlow_create(presets[self.preset])
        self._dis.setUseSpatialPropagation(True)

    def __call__(self, first: np.ndarray, second: np.ndarray,
                 seed: np.ndarray | None = None) -> np.ndarray:
        """The flow from grey picture ``first`` to ``second`` (same size)."""
        # DIS writes its answer into the seed it is given: a copy keeps the caller's.
        start = None if seed is None else np.array(seed, dtype=np.float32, order="C")
        return self._dis.calc(first, second, start)


def resize_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A flow at another (H, W): resized, its vectors scaled with it."""
    h, w = size
    fh, fw = flow.shape[:2]
    if (fh, fw) == (h, w):
        return flow
    cv2 = _cv2()
    out = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= w / fw
    out[..., 1] *= h / fh
    return out


@lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (x, y) of an (h, w) picture (kept: every frame has the same size)."""
    xs = np.broadcast_to(np.arange(w, dtype=np.float32), (h, w))
    ys = np.broadcast_to(np.arange(h, dtype=np.float32)[:, None], (h, w))
    return np.ascontiguousarray(xs), np.ascontiguousarray(ys)


def warp(picture: np.ndarray, flow: np.ndarray, *, cubic: bool = False) -> np.ndarray:
    """``picture`` (H, W, C) pulled along ``flow`` (H, W, 2): out[y, x] = picture at
    (x, y) + flow[y, x], bilinear (bicubic with ``cubic``: less blur where a picture is warped
    again and again), edges replicated."""
    cv2 = _cv2()
    h, w = flow.shape[:2]
    xs, ys = _grid(h, w)
    return cv2.remap(picture, xs + flow[..., 0], ys + flow[..., 1],
                     cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def consistency(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Where the flows agree: ``backward`` from frame t to t-1, ``forward`` from t-1 to t (both
    at frame t's size). A pixel of frame t is trusted (1) when going back and coming forward
    again returns it home (Ruder et al. 2016: |w + w~|^2 <= 0.01 (|w|^2 + |w~|^2) + 0.5) and
    it was inside frame t-1; else 0 (occluded, or the flow is wrong). (H, W) float32."""
    h, w = backward.shape[:2]
    there = warp(forward, backward)  # the forward flow at each pixel's place in frame t-1
    total = backward + there

    def square(f: np.ndarray) -> np.ndarray:
        return f[..., 0] * f[..., 0] + f[..., 1] * f[..., 1]

    lhs = square(total)
    rhs = 0.01 * (square(backward) + square(there)) + 0.5
    xs, ys = _grid(h, w)
    px, py = xs + backward[..., 0], ys + backward[..., 1]
    inside = (px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)
    return ((lhs <= rhs) & inside).astype(np.float32)
