"""Frames in, stylised frames out, for every method: the part of video that knows nothing of
files, so a caller can feed frames from anywhere (a file, a camera, a stream).

>>> from impasto.video import stylize_frames
>>> for out in stylize_frames(frames, "starry-night", method="adain"):
...     show(out)  # (H, W, 3) uint8
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from impasto.errors import InvalidOption
from impasto.pipeline import Pipeline, Request
from impasto.video.temporal import TemporalBlender, check_weight

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
    (``temporal``: 0 is frame by frame; None, the method's default)."""

    def __init__(self, styles: Any = (), *, method: str = "adain",
                 options: Mapping[str, Any] | None = None, temporal: float | None = None,
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
        self.blender = TemporalBlender(check_weight(temporal, self.method),
                                       preset=flow_preset)
        self.frames = 0

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """One (H, W, 3) uint8 RGB frame -> its stylised frame, (H, W, 3) uint8."""
        prediction = self.blender.predict(frame)
        out = self.blender.finish(self._stylise(frame, prediction))
        self.frames += 1
        return (np.clip(out, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)

    def _stylise(self, frame: np.ndarray,
                 prediction: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
        request = self.request.replace(content=frame)
        if self.method == "optimize":
            # The size is the frame's; after the first frame the optimiser starts from the
            # last output carried to this frame along the flow (the photo where the flow is not
            # trusted: Ruder et al. 2016), so far fewer steps than a still's reach the picture.
            options = request.options.replace(size=max(frame.shape[:2]))
            if prediction is not None:
                warped, alpha = prediction
                trust = np.minimum(alpha / max(self.blender.weight, 1e-6), 1.0)[..., None]
                start = trust * warped + (1.0 - trust) * (frame.astype(np.float32) / 255.0)
                request = request.replace(init=(start * 255.0 + 0.5).astype(np.uint8))
                options = options.replace(iterations=self.request.options.iterations
                                          or FRAME_STEPS, scales=1)
            request = request.replace(options=options)
        result = self.pipeline.render(request)
        return result.tensor[0].permute(1, 2, 0).contiguous().numpy().astype(np.float32)


def stylize_frames(frames: Iterable[np.ndarray], styles: Sequence[Any] | Any = (), *,
                   method: str = "adain", options: Mapping[str, Any] | None = None,
                   temporal: float | None = None, device: str | torch.device = "cpu"
                   ) -> Iterator[np.ndarray]:
    """Stylise ``frames`` ((H, W, 3) uint8 RGB, all one size) in order, yielding each output
    frame as it is made (nothing is held but the last frame)."""
    stylizer = FrameStylizer(styles, method=method, options=options, temporal=temporal,
                             device=device)
    for frame in frames:
        yield stylizer(np.ascontiguousarray(frame, dtype=np.uint8))
