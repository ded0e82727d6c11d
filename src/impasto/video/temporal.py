"""Temporal consistency without learned weights: each stylised frame is blended with the
previous output frame warped to it along the optical flow, where the flow can be trusted, so
that still regions stay still and moving ones follow the motion.

The blend weight of a pixel is ``weight x consistency x likeness``: consistency is the
forward-backward check (occlusions, wrong flow: 0), likeness falls where the input frame
itself does not match its warped predecessor (lighting changes, flow errors in flat or dark
regions). A scene cut (few pixels trusted, or a frame unlike the one before) starts afresh.
For the methods whose sharp textures lose style to the blend, the blend keeps the frame's own
local contrast (:func:`kept_contrast`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from impasto.errors import InvalidOption
from impasto.video.flow import (
    FLOW_SIDE,
    FlowEstimator,
    consistency,
    grey,
    resize_flow,
    warp,
)

#: Below this mean trust (consistency x likeness) a frame is taken as a new scene. On the
#: bunny clip every frame but its one cut is trusted at 0.85 or more, with either flow; a
#: finer flow (``medium``) finds consistent motion between two unlike scenes more often than
#: the ``fast`` one, and only their likeness tells them apart.
CUT_TRUSTED = 0.5
#: A frame whose 16 x 9 thumbnail differs from the previous one's by more than this (mean
#: absolute difference, 0-255) is a new scene.
CUT_DIFFERENCE = 45.0
#: Grey-level difference (0-255) at which an input pixel counts as half unlike its warped
#: predecessor.
LIKENESS_SCALE = 24.0


#: Whether the previous output is warped bicubically: it is warped again every frame, and
#: bilinear warps soften its texture a little more each time (on the validation clip, at the
#: same weight, bicubic kept the style distance 1-3 % closer: experiments/NOTES.md).
CUBIC = True
#: The default weight of each method, chosen on validation clips (experiments/NOTES.md): the
#: largest of 0.3, 0.5, 0.7 whose warping error was at most half of frame by frame with a style
#: distance at most 10 % further. AdaIN and WCT (with the contrast kept) passed at 0.7 too, but
#: drew a moving arm with a doubled edge there, which neither measure sees: 0.5.
DEFAULT_WEIGHTS = {"network": 0.5, "adain": 0.5, "wct": 0.5, "optimize": 0.3}
#: The methods whose blend keeps the frame's local contrast (:func:`kept_contrast`): AdaIN's and
#: WCT's sharp textures lost 7 % of their style distance to a plain blend at 0.3 and 13 % at
#: 0.5 on the validation pan; with the contrast kept, 0.5 cost 1.4 % and still took out three
#: quarters of the flicker (experiments/NOTES.md). A network video runs in real time and its
#: smoother textures lose little to the plain blend; the optimiser's frames are held by their
#: carried start.
KEEPS_CONTRAST = frozenset({"adain", "wct"})
#: Gaussian (px) that parts a picture's detail from its local mean for :func:`kept_contrast`.
CONTRAST_SIGMA = 3.0


@dataclass(frozen=True)
class MotionSettings:
    """How a method's motion is worked out: the DIS ``preset``, the long ``side`` (px) of
    the frames the flow is estimated on, and ``steady``, the weight with which each input
    frame is blended with the previous (steadied) input carried along the flow before it is
    stylised (0: not at all; a temporal denoise of the photo where the flow is trusted)."""

    preset: str = "fast"
    side: int = FLOW_SIDE
    steady: float = 0.0


#: Each method's motion, chosen on validation clips (experiments/NOTES.md, "AdaIN's flicker:
#: a finer flow and a steadied input"). A network video runs in real time, so its flow is the
#: cheap one. AdaIN's and WCT's sharp textures show a flow a fraction of a pixel off as flicker,
#: and their frames cost a few hundred milliseconds anyway, so theirs is finer (about 50 ms a
#: frame more at 640 x 360); and they paint the grain and compression noise that differ from
#: frame to frame where nothing moves, so their input is steadied first.
METHOD_MOTION = {"network": MotionSettings(), "optimize": MotionSettings(),
                 "adain": MotionSettings("medium", 640, 0.5),
                 "wct": MotionSettings("medium", 640, 0.5)}
#: How alike a pixel is to its warped predecessor, by their grey-level difference (0-255).
_LIKENESS = (1.0 / (1.0 + (np.arange(256, dtype=np.float32) / LIKENESS_SCALE) ** 2)).astype(
    np.float32)


def check_weight(weight: float | None, method: str = "adain") -> float:
    """``weight``, or the method's default (None), checked."""
    weight = DEFAULT_WEIGHTS.get(method, 0.3) if weight is None else float(weight)
    if not 0.0 <= weight < 1.0:
        raise InvalidOption(f"temporal weight must be in [0, 1), not {weight}")
    return weight


@dataclass
class Motion:
    """What an input frame says about the motion since the one before, with no stylised
    picture needed (so it can be worked out while the previous frame is being stylised):
    ``flow`` from this frame to the previous one and ``trust`` per pixel (consistency x
    likeness, in [0, 1]), both at flow size, or None for the first frame of a scene; ``carry``
    is the estimator's state after this frame; ``picture`` the steadied input, if any."""

    flow: np.ndarray | None
    trust: np.ndarray | None
    carry: dict[str, np.ndarray]
    seconds: float = 0.0
    #: The input frame steadied (:attr:`MotionSettings.steady`), to be stylised in its place;
    #: None: the frame as it is.
    picture: np.ndarray | None = None


@dataclass
class MotionEstimator:
    """Turns input frames, in order, into :class:`Motion`: DIS flows both ways between each
    frame and the one before (each seeded with the previous pair), their consistency and the
    likeness of the frame to its warped predecessor; scene cuts start afresh. ``settings``
    say how (:class:`MotionSettings`); with their ``steady`` it also steadies each input
    frame along the flow (:attr:`Motion.picture`)."""

    settings: MotionSettings = MotionSettings()

    def __post_init__(self) -> None:
        self._flow = FlowEstimator(self.settings.preset)
        self._grey: np.ndarray | None = None
        self._seeds: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
        self._steadied: np.ndarray | None = None
        self.cuts = 0

    def __call__(self, frame: np.ndarray) -> Motion:
        started = time.perf_counter()
        g = grey(frame, self.settings.side)
        flow = trust = None
        if self._grey is None or self._grey.shape != g.shape:
            self._seeds = (None, None)
        elif _cut(self._grey, g):
            self._reset()
        else:
            backward = self._flow(g, self._grey, self._seeds[0])  # t -> t-1
            forward = self._flow(self._grey, g, self._seeds[1])  # t-1 -> t
            self._seeds = (backward, forward)
            import cv2

            likeness = _LIKENESS[cv2.absdiff(g, warp(self._grey, backward))]
            trusted = consistency(backward, forward) * likeness
            if float(trusted.mean()) < CUT_TRUSTED:
                self._reset()
            else:
                flow, trust = backward, trusted
        self._grey = g
        picture = self._steady(frame, flow, trust) if self.settings.steady > 0 else None
        return Motion(flow, trust, self.state(), time.perf_counter() - started, picture)

    def _steady(self, frame: np.ndarray, flow: np.ndarray | None,
                trust: np.ndarray | None) -> np.ndarray:
        """``frame`` blended with the last steadied input carried along ``flow``, by
        ``settings.steady x trust`` (the frame itself at the first frame of a scene), uint8."""
        import cv2

        current = frame.astype(np.float32)
        previous = self._steadied
        if flow is not None and trust is not None and previous is not None \
                and previous.shape == current.shape:
            h, w = frame.shape[:2]
            alpha = _resize_map(self.settings.steady * trust, (h, w))
            current = cv2.blendLinear(warp(previous, resize_flow(flow, (h, w))), current,
                                      alpha, 1.0 - alpha)
        self._steadied = current
        return np.clip(current + 0.5, 0.0, 255.0).astype(np.uint8)

    def _reset(self) -> None:
        """A new scene: nothing carried over, no flow seeds."""
        self.cuts += 1
        self._seeds = (None, None)

    def state(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {"cuts": np.array(self.cuts)}
        if self._grey is not None:
            out["grey"] = self._grey
        if self._steadied is not None:
            out["steadied"] = self._steadied
        for name, seed in zip(("backward", "forward"), self._seeds, strict=True):
            if seed is not None:
                out[name] = seed
        return out

    def restore(self, state: dict[str, np.ndarray]) -> None:
        self._grey = state.get("grey")
        self._steadied = state.get("steadied")
        self._seeds = (state.get("backward"), state.get("forward"))
        self.cuts = int(state.get("cuts", 0))


@dataclass
class TemporalBlender:
    """Blends each stylised frame with the warped previous output (``weight`` 0: frame by
    frame). For each input frame (H, W, 3) uint8, in order: :meth:`predict` (or
    :meth:`motion` then :meth:`predict_from`, which lets the motion be worked out ahead, in
    another thread), then :meth:`finish` with its stylised picture (H, W, 3) float32 in
    [0, 1], which returns the output frame. :meth:`state` / :meth:`restore` carry what the next
    frame needs across an interrupted run."""

    weight: float = 0.3
    settings: MotionSettings = MotionSettings()
    #: Whether the blend keeps the stylised frame's local contrast (:func:`kept_contrast`).
    keep_contrast: bool = False

    def __post_init__(self) -> None:
        self.weight = check_weight(self.weight)
        self.estimator = MotionEstimator(self.settings)
        self._output: np.ndarray | None = None
        self._carry: dict[str, np.ndarray] = {}
        self._prediction: tuple[np.ndarray, np.ndarray] | None = None
        self._keep = False
        #: Seconds spent on flow, warping and blending so far.
        self.flow_seconds = 0.0

    @property
    def cuts(self) -> int:
        return int(self._carry.get("cuts", 0))

    def __call__(self, frame: np.ndarray, styled: np.ndarray) -> np.ndarray:
        self.predict(frame)
        return self.finish(styled)

    def motion(self, frame: np.ndarray) -> Motion | None:
        """The motion into the next input frame (None frame by frame). Safe to call ahead of
        :meth:`predict_from` / :meth:`finish`, in order, from one other thread."""
        return self.estimator(frame) if self.weight > 0 else None

    def predict(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        return self.predict_from(self.motion(frame))

    def predict_from(self, motion: Motion | None) -> tuple[np.ndarray, np.ndarray] | None:
        """The previous output moved to the next frame and the weight of that at each pixel
        ((H, W, 3) and (H, W) float32, at the previous output's size), or None (the first
        frame, a scene cut, frame by frame). :meth:`finish` uses them."""
        started = time.perf_counter()
        self._prediction = None
        if motion is not None:
            self.flow_seconds += motion.seconds
            self._carry = motion.carry
            if motion.flow is not None and motion.trust is not None \
                    and self._output is not None:
                h, w = self._output.shape[:2]
                alpha = _resize_map(self.weight * motion.trust, (h, w))
                self._prediction = (warp(self._output, resize_flow(motion.flow, (h, w)),
                                         cubic=CUBIC), alpha)
        self.flow_seconds += time.perf_counter() - started
        self._keep = motion is not None
        return self._prediction

    def finish(self, styled: np.ndarray) -> np.ndarray:
        """The output frame: ``styled`` blended with the prediction (if any)."""
        started = time.perf_counter()
        out = styled
        if self._prediction is not None and self._prediction[0].shape == styled.shape:
            import cv2

            warped, alpha = self._prediction
            styled = np.ascontiguousarray(styled, dtype=np.float32)
            out = cv2.blendLinear(warped, styled, alpha, 1.0 - alpha)
            if self.keep_contrast:
                out = kept_contrast(out, styled, alpha)
        self._output = out if self._keep else None
        self.flow_seconds += time.perf_counter() - started
        return out

    def state(self) -> dict[str, np.ndarray]:
        """What the next frame needs (arrays), for :meth:`restore`."""
        out = dict(self._carry)
        if self._output is not None:
            out["output"] = self._output
        return out

    def restore(self, state: dict[str, np.ndarray]) -> None:
        state = dict(state)
        self._output = state.pop("output", None)
        self._carry = state
        self.estimator.restore(state)


def kept_contrast(blended: np.ndarray, styled: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``blended`` (``styled`` blended with the carried previous output at ``alpha`` per
    pixel) with its detail scaled back up towards ``styled``'s local contrast. Two textures
    that do not line up average to a flatter one (by 1 / sqrt(a^2 + (1 - a)^2) in spread at
    weight a, if unrelated), the style the blend costs; where they agree nothing is lost and
    nothing changes, so no gain builds up from frame to frame (after Heitz and Neyret 2018's
    variance-preserving blend of textures). Detail and mean are parted by a Gaussian of
    :data:`CONTRAST_SIGMA` px; (H, W, 3) float32 pictures, (H, W) ``alpha``."""
    import cv2

    def local(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (0, 0), CONTRAST_SIGMA)

    mean_b, mean_s = local(blended), local(styled)
    spread_b = np.maximum(local(blended * blended) - mean_b * mean_b, 1e-8)
    spread_s = np.maximum(local(styled * styled) - mean_s * mean_s, 0.0)
    a = alpha[..., None]
    most = 1.0 / np.sqrt(a * a + (1.0 - a) * (1.0 - a))
    gain = np.clip(np.sqrt(spread_s / spread_b), 1.0, most)
    return (mean_b + (blended - mean_b) * gain).astype(np.float32)


def _cut(previous: np.ndarray, current: np.ndarray) -> bool:
    import cv2

    a = cv2.resize(previous, (16, 9), interpolation=cv2.INTER_AREA).astype(np.float32)
    b = cv2.resize(current, (16, 9), interpolation=cv2.INTER_AREA).astype(np.float32)
    return float(np.abs(a - b).mean()) > CUT_DIFFERENCE


def _resize_map(m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    h, w = size
    if m.shape == (h, w):
        return m.astype(np.float32)
    return cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
