"""Frames in, stylised frames out, for every method: the part of video that knows nothing of
files, so a caller can feed frames from anywhere (a file, a camera, a stream).

>>> from impasto.video import stylize_frames
>>> for out in stylize_frames(frames, "starry-night", method="adain"):
...     show(out)  # (H, W, 3) uint8
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from impasto.errors import InvalidOption
from impasto.events import CancelToken
from impasto.pipeline import Pipeline, Request
from impasto.video.temporal import (
    DEFAULT_WEIGHTS,
    KEEPS_CONTRAST,
    METHOD_MOTION,
    Motion,
    MotionSettings,
    TemporalBlender,
    check_weight,
)

if TYPE_CHECKING:
    import torch

T = TypeVar("T")

#: Steps of the optimiser for each frame after the first (the first is a still's default): it
#: starts from the previous output warped to this frame, so most of the picture is there, and
#: L-BFGS starts from what it learnt of the objective on the frame before (``LBFGS_PAIRS``), so
#: its first step is a full one. On the validation clips two such steps painted closer to the
#: style than the four of a fresh L-BFGS (the default before), at about the same flicker
#: (experiments/NOTES.md), which keeps 10 s of 640 x 360 video under 30 minutes on 2 CPU cores
#: without bf16 too. The options' ``iterations`` set it.
FRAME_STEPS = 2
#: Weight of the temporal loss (:class:`~impasto.optim.objective.TemporalTerm`) at the
#: optimiser's default blend weight; it scales with ``temporal``. On the validation clip 10 and
#: 100 changed nothing measurable at 5 or 10 steps (the start already holds the picture) and
#: 1000 made both flicker and style worse: it guards longer runs against drift.
TEMPORAL_LOSS = 10.0
#: Pairs of steps and gradient changes of L-BFGS's memory carried from one frame to the next
#: (:class:`~impasto.optim.engine.LbfgsMemory`; None: none, each frame starts a fresh L-BFGS).
#: On the validation clips five paired with three steps painted 2-5 % closer to the style than
#: the scale alone (experiments/NOTES.md).
LBFGS_PAIRS: int | None = 5


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
    (``temporal``: 0 is frame by frame; None, the method's default); ``motion`` says how the
    motion is worked out (None: the method's own, :data:`~impasto.video.temporal.METHOD_MOTION`)."""

    def __init__(self, styles: Any = (), *, method: str = "adain",
                 options: Mapping[str, Any] | None = None, temporal: float | None = None,
                 device: str | torch.device = "cpu", pipeline: Pipeline | None = None,
                 motion: MotionSettings | None = None,
                 style_terms: Sequence[Mapping[str, str]] = (),
                 cancel: CancelToken | None = None) -> None:
        values = dict(options or {})
        if "size" in values:
            raise InvalidOption("give the frame size to the video, not to the method's options")
        self.pipeline = pipeline or Pipeline(device)
        # The request is checked once, here (a bad option fails before the first frame).
        self.request = Request(np.zeros((16, 16, 3), np.uint8), styles, method=method,
                               options=values, style_terms=style_terms)
        self.method = self.request.method
        self.blender = TemporalBlender(check_weight(temporal, self.method),
                                       motion or METHOD_MOTION.get(self.method,
                                                                   MotionSettings()),
                                       self.method in KEEPS_CONTRAST)
        self.frames = 0
        # What the optimiser learnt of the last frame's objective, to start the next from.
        self._memory = None
        if self.method == "optimize" and LBFGS_PAIRS is not None:
            from impasto.optim.engine import LbfgsMemory

            self._memory = LbfgsMemory(LBFGS_PAIRS)
        #: The provenance record of the last frame made (method, options, styles, models).
        self.record: dict[str, Any] | None = None
        #: Stops the frame being made (an optimisation at its next step) when cancelled.
        self.cancel = cancel

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """One (H, W, 3) uint8 RGB frame -> its stylised frame, (H, W, 3) uint8."""
        return self._one(frame, self.blender.motion(frame))

    def stream(self, frames: Iterable[tuple[T, np.ndarray]]) -> Iterator[tuple[T, np.ndarray]]:
        """(tag, frame) pairs in, (tag, stylised frame) out, in order: the same frames as
        calling this object on each, made faster by working ahead in other threads while the
        caller blends and writes the frame before: the motion into each frame in one, and the
        frames themselves painted in :meth:`painters` more (each stylised frame depends on its
        input frame only; the optimiser's also on the last output, so it paints in order).
        OpenCV, onnxruntime and PyTorch release the GIL, and every frame's work is the same
        whichever thread does it, so the output is the same every run. At most
        ``painters + 1`` frames are held ahead."""
        painters = self.painters()
        ahead: deque[tuple[T, np.ndarray, Future[Motion | None],
                           Future[tuple[np.ndarray, dict[str, Any]]] | None]] = deque()
        with _opencv_threads(1 if painters > 1 else None), \
                ThreadPoolExecutor(1, thread_name_prefix="impasto-motion") as motions, \
                ThreadPoolExecutor(painters, thread_name_prefix="impasto-paint") as paint:
            try:
                for tag, frame in frames:
                    motion = motions.submit(self.blender.motion, frame)
                    painted = (None if self.method == "optimize"
                               else paint.submit(self._paint, frame, motion))
                    ahead.append((tag, frame, motion, painted))
                    if painted is not None and self.frames == 0 and len(ahead) == 1:
                        wait([painted])  # the first frame loads the network, once
                    if len(ahead) > painters:
                        yield self._next(*ahead.popleft())
                while ahead:
                    yield self._next(*ahead.popleft())
            finally:
                for *_, motion, painted in ahead:
                    motion.cancel()
                    if painted is not None:
                        painted.cancel()

    def state(self) -> dict[str, np.ndarray]:
        """What the next frame needs (arrays), for :meth:`restore`: the blender's, and the
        optimiser's memory (its names prefixed ``lbfgs_``)."""
        out = self.blender.state()
        if self._memory is not None:
            out.update({f"lbfgs_{k}": v for k, v in self._memory.state().items()})
        return out

    def restore(self, state: dict[str, np.ndarray]) -> None:
        state = dict(state)
        memory = {k[len("lbfgs_"):]: state.pop(k) for k in list(state)
                  if k.startswith("lbfgs_")}
        if self._memory is not None:
            self._memory.restore(memory)
        self.blender.restore(state)

    def painters(self) -> int:
        """How many frames :meth:`stream` paints at once: two when the method is a network
        run in onnxruntime (two runs at once share its threads: on 2 CPU cores a 640 x 360
        frame every 23 ms against 28 one at a time, benchmarks/video.py), else one (the
        optimiser paints in order; PyTorch's methods already use every core)."""
        if self.method != "network":
            return 1
        return 2 if self.pipeline.runtime("network", self.request.options).backend == "onnx" \
            else 1

    def _next(self, tag: T, frame: np.ndarray, motion: Future[Motion | None],
              painted: Future[tuple[np.ndarray, dict[str, Any]]] | None
              ) -> tuple[T, np.ndarray]:
        if painted is None:
            return tag, self._one(frame, motion.result())
        self.blender.predict_from(motion.result())
        return tag, self._done(*painted.result())

    def _paint(self, frame: np.ndarray, motion: Future[Motion | None]
               ) -> tuple[np.ndarray, dict[str, Any]]:
        """A frame painted with no prediction, in a painter thread: its steadied input when
        the method steadies its input (waiting for the motion thread, which never waits for
        a painter), else the frame as it is."""
        if self.blender.settings.steady > 0:
            frame = _steadied(frame, motion.result())
        return self._stylise(frame, None)

    def _one(self, frame: np.ndarray, motion: Motion | None) -> np.ndarray:
        return self._done(*self._stylise(_steadied(frame, motion),
                                         self.blender.predict_from(motion)))

    def _done(self, styled: np.ndarray, record: dict[str, Any]) -> np.ndarray:
        out = self.blender.finish(styled)
        self.record = record
        self.frames += 1
        return to_uint8(out)

    def _stylise(self, frame: np.ndarray,
                 prediction: tuple[np.ndarray, np.ndarray] | None
                 ) -> tuple[np.ndarray, dict[str, Any]]:
        """A frame painted (H, W, 3) float32, and its provenance record; the optimiser starts
        from ``prediction`` (the last output carried to this frame)."""
        request = self.request.replace(content=frame)
        if self.method == "optimize":
            import torch

            from impasto.optim.objective import TemporalTerm

            # The size is the frame's; after the first frame the optimiser starts from the
            # last output carried to this frame along the flow, and where the flow is not
            # trusted from what a still starts from (Ruder et al. 2016 take the photo; the
            # progressive start, the AdaIN picture, is already painted), so far fewer steps
            # than a still's reach the picture.
            options = request.options.replace(size=max(frame.shape[:2]))
            if prediction is not None:
                warped, alpha = prediction
                trust = np.minimum(alpha / max(self.blender.weight, 1e-6), 1.0)[..., None]
                start = trust * warped + (1.0 - trust) * self._fill(request, options, trust)
                # Ruder et al.'s temporal loss holds the picture to that carried output where
                # the flow is trusted, as strong as the blend asks (0: none).
                term = TemporalTerm(
                    torch.from_numpy(np.ascontiguousarray(warped.transpose(2, 0, 1)))[None],
                    torch.from_numpy(np.ascontiguousarray(trust[..., 0]))[None, None],
                    TEMPORAL_LOSS * self.blender.weight / DEFAULT_WEIGHTS["optimize"])
                request = request.replace(init=to_uint8(start), temporal=term)
                options = options.replace(iterations=self.request.options.iterations
                                          or FRAME_STEPS, scales=1)
            request = request.replace(options=options, lbfgs_memory=self._memory)
        result = self.pipeline.render(request, cancel=self.cancel)
        return _pixels(result.array), result.record

    def _fill(self, request: Request, options: Any, trust: np.ndarray) -> np.ndarray:
        """What the optimiser starts from where the carried output is not trusted: a still's
        start (the AdaIN picture by default, with the same styles, blend and masks; else the
        photo), (H, W, 3) float32."""
        frame = request.content
        assert isinstance(frame, np.ndarray)
        if options.start(True) != "adain" or float(trust.min()) >= 1.0:
            return frame.astype(np.float32) / 255.0
        return _pixels(self.pipeline.render(request.replace(options=options.replace(
            init="adain", iterations=0, scales=1)), cancel=self.cancel).array)


def _steadied(frame: np.ndarray, motion: Motion | None) -> np.ndarray:
    """What is stylised for ``frame``: its steadied input, if the motion has one."""
    return frame if motion is None or motion.picture is None else motion.picture


@contextmanager
def _opencv_threads(threads: int | None) -> Iterator[None]:
    """OpenCV's own worker threads set to ``threads`` (None: left as they are) until the block
    ends. With frames painted in parallel every core is already busy, and OpenCV splitting
    each warp and flow over all of them as well cost more than it gave: on 2 cores the whole
    network video ran at 25-28 frames/s with OpenCV on one thread against 24-26 with its own
    threads (hand-run trials, experiments/NOTES.md). The setting is the process's: other
    threads using OpenCV meanwhile get it too."""
    if threads is None:
        yield
        return
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(threads)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def _pixels(picture: np.ndarray) -> np.ndarray:
    """A (1, 3, H, W) picture as (H, W, 3) float32 (OpenCV interleaves the three planes in a
    fifth of the time numpy's transposed copy takes)."""
    import cv2

    planes = np.asarray(picture[0], dtype=np.float32)
    return cv2.merge([planes[0], planes[1], planes[2]])


def to_uint8(picture: np.ndarray) -> np.ndarray:
    """An (H, W, 3) float picture in [0, 1] (values outside clipped) as uint8, rounded."""
    out = np.clip(picture, 0.0, 1.0)
    out *= 255.0
    out += 0.5
    return out.astype(np.uint8)


def stylize_frames(frames: Iterable[np.ndarray], styles: Sequence[Any] | Any = (), *,
                   method: str = "adain", options: Mapping[str, Any] | None = None,
                   temporal: float | None = None, device: str | torch.device = "cpu"
                   ) -> Iterator[np.ndarray]:
    """Stylise ``frames`` ((H, W, 3) uint8 RGB, all one size) in order, yielding each output
    frame as it is made (nothing is held but the last frame and the one ahead)."""
    stylizer = FrameStylizer(styles, method=method, options=options, temporal=temporal,
                             device=device)
    for _, out in stylizer.stream((None, np.ascontiguousarray(frame, dtype=np.uint8))
                                  for frame in frames):
        yield out
