"""Video and live frames: stylise frame streams with temporal consistency
(:mod:`impasto.video.frames`), video files in and out (:mod:`impasto.video.render`), and the
flicker they show (:mod:`impasto.video.score`). Needs the ``[video]`` extra (PyAV, OpenCV)."""

from impasto.video.frames import FrameStylizer, stylize_frames

__all__ = ["FrameStylizer", "stylize_frames"]
