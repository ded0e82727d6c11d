"""How much a stylised video flickers: the warping error of Lai et al. (2018, "Learning Blind
Video Temporal Consistency"), with the flow taken from the input frames.

For output frames O_t and O_{t+g} and the flow from input frame t+g back to input frame t, the
error of that pair is the mean over trusted pixels (forward-backward consistent, as
:func:`impasto.video.flow.consistency`) of the squared difference between O_{t+g} and O_t
warped to t+g, on RGB in [0, 1] (the mean of the three channels). The video's error is the mean
over pairs: short-term (g = 1) and long-term (g = 10). The style distance, when a style is
given, is the mean of ``impasto score``'s style distance over every ``every``-th frame.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from impasto.errors import InvalidImage
from impasto.video import io as vio
from impasto.video.flow import FlowEstimator, consistency, grey, resize_flow, warp

#: The long-term gap of Lai et al.
LONG_GAP = 10


@dataclass(frozen=True)
class VideoScores:
    frames: int
    short_term: float
    long_term: float | None
    style_distance: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"frames": self.frames, "warping_error_short": self.short_term,
                "warping_error_long": self.long_term, "style_distance": self.style_distance}


def _pairs_of_frames(source: Path, output: Path) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(input frame, output frame) pairs, the input resized to the output's size."""
    import cv2

    src = vio.read_frames(vio.probe(source))
    for out_frame in vio.read_frames(vio.probe(output)):
        try:
            in_frame = next(src)
        except StopIteration:
            raise InvalidImage(f"{output.name} has more frames than {source.name}") from None
        rgb = out_frame.rgb
        h, w = rgb.shape[:2]
        inp = in_frame.rgb
        if inp.shape[:2] != (h, w):
            inp = cv2.resize(inp, (w, h), interpolation=cv2.INTER_AREA)
        yield inp, rgb


def score_video(source: str | Path, output: str | Path, *, style: Any = None,
                every: int = 10, device: str = "cpu") -> VideoScores:
    """The warping errors (and the style distance, with ``style``) of ``output``, a
    stylisation of ``source`` (the same frames, in order)."""
    flow = FlowEstimator("medium")
    history: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=LONG_GAP + 1)
    short: list[float] = []
    long: list[float] = []
    styles: list[float] = []
    scorer = None
    style_tensor = None
    if style is not None:
        from impasto.image.io import DEFAULT_MAX_PIXELS
        from impasto.pipeline import Pipeline
        from impasto.pipeline.inputs import read_picture
        from impasto.styles.library import resolve_style

        style_tensor = read_picture(resolve_style(style), "style", DEFAULT_MAX_PIXELS).tensor
        scorer = Pipeline(device).scorer()
    count = 0
    for inp, out in _pairs_of_frames(Path(source), Path(output)):
        g = grey(inp, side=max(inp.shape[:2]))
        o = out.astype(np.float32) / 255.0
        for gap, errors in ((1, short), (LONG_GAP, long)):
            if len(history) >= gap:
                g0, o0 = history[-gap]
                errors.append(_error(flow, g0, o0, g, o))
        history.append((g, o))
        if scorer is not None and count % every == 0:
            import torch

            x = torch.from_numpy(o).permute(2, 0, 1)[None]
            c = torch.from_numpy(inp.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
            styles.append(scorer.score(c, style_tensor, x).style_distance)
        count += 1
    if count < 2:
        raise InvalidImage(f"{Path(output).name}: a warping error needs at least 2 frames")
    return VideoScores(count, float(np.mean(short)),
                       float(np.mean(long)) if long else None,
                       float(np.mean(styles)) if styles else None)


def _error(flow: FlowEstimator, g0: np.ndarray, o0: np.ndarray, g1: np.ndarray,
           o1: np.ndarray) -> float:
    backward = flow(g1, g0)  # later frame -> earlier frame
    forward = flow(g0, g1)
    mask = consistency(backward, forward)
    h, w = o1.shape[:2]
    if mask.shape != (h, w):
        import cv2

        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
        backward = resize_flow(backward, (h, w))
    warped = warp(o0, backward)
    squared = ((o1 - warped) ** 2).mean(-1)
    return float((mask * squared).sum() / max(mask.sum(), 1.0))
