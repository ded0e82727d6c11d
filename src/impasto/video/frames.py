"""Frames in, stylised frames out, for every method: the part of video that knows nothing of
files, so a caller can feed frames from anywhere (a file, a camera, a stream).

>>> from impasto.video import stylize_frames
>>> for out in stylize_frames(frames, "starry-night", method="adain", temporal=0.7):
...     show(out)  # (H, W, 3) uint8
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from impasto.errors import InvalidOption
from impasto.pipeline import Pipeline, Request
from impasto.video.temporal import TemporalBlender

#: Steps of the optimiser for each frame after the first (the first is a still's default): it
#: starts from the previous output warped to this frame, so most of the picture is there.
FRAME_STEPS = 40


def even_size(height: int, width: int, size: int | None) -> tuple[int, int]:
    """The (H, W) frames are stylised and written at: long side ``size`` (None: as they are),
    both sides even (what 4:2:0 video needs)."""
    if size is not None:
        if not isinstance(size, int) or size < 16:
            raise InvalidOption(f"size must be an integer of at least 16, not {size!r}")
        scale = size / max(height, width)
        height, width = round(height * scale), round(width * scale)
    return max(2, height - height % 2), max(2, width - width % 2)


class FrameStylizer:
    """Stylises frames one after another with one method (its networks, decoders and the
    style's statistics loaded once), blending each with the warped previous output
    (``temporal``: 0 is frame by frame)."""

    def __init__(self, styles: Any = (), *, method: str = "adain",
                 options: Mapping[str, Any] | None = None, temporal: float = 0.7,
                 device: str | torch.device = "cpu", pipeline: Pipeline | None = None,
                 flow_preset: str = "fast") -> None:
        values = dict(options or {})
        if "size" in values:
            raise InvalidOption("give the frame size to the video, not to the method's options")
        self.pipeline = pipeline or Pipeline(device)
        # The request is checked once, here (a bad option fails before the first frame).
        self.request = Request(np.zeros((16, 16, 3), np.uint8), styles, method=method,
                               options=values)
        self.method = self.request.method
        self.blender = TemporalBlender(temporal, preset=flow_preset)
        self._previous: np.ndarray | None = None
        self.frames = 0

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """One (H, W, 3) uint8 RGB frame -> its stylised frame, (H, W, 3) uint8."""
        styled = self._stylise(frame)
        out = self.blender(frame, styled)
        self._previous = out
        self.frames += 1
        return (np.clip(out, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)

    def _stylise(self, frame: np.ndarray) -> np.ndarray:
        request = self.request.replace(content=frame)
        if self.method == "optimize" and self._previous is not None:
            # Later frames refine the last output carried to this frame (the blender warps it
            # in), so they need far fewer steps than a still.
            request = request.replace(options=request.options.replace(
                iterations=request.options.iterations or FRAME_STEPS, scales=1))
        result = self.pipeline.render(request)
        return result.tensor[0].permute(1, 2, 0).contiguous().numpy().astype(np.float32)


def stylize_frames(frames: Iterable[np.ndarray], styles: Sequence[Any] | Any = (), *,
                   method: str = "adain", options: Mapping[str, Any] | None = None,
                   temporal: float = 0.7, device: str | torch.device = "cpu"
                   ) -> Iterator[np.ndarray]:
    """Stylise ``frames`` ((H, W, 3) uint8 RGB, all one size) in order, yielding each output
    frame as it is made (nothing is held but the last frame)."""
    stylizer = FrameStylizer(styles, method=method, options=options, temporal=temporal,
                             device=device)
    for frame in frames:
        yield stylizer(np.ascontiguousarray(frame, dtype=np.uint8))
