"""Lab: steadier AdaIN video by holding the *input* still along the flow before stylising it,
against (and with) the output blend, on validation clips.

The output blend (``impasto.video.temporal``) averages two stylised textures that never line
up to the pixel, so holding AdaIN's sharp textures still costs style. Much of AdaIN's flicker
on a real clip comes from the input itself: compression noise and grain differ from frame to
frame where nothing moves, and the decoder paints each difference as a new stroke. Here each
input frame is first blended with the previous (already steadied) input, warped along the same
flow and weighted by the same trust (a temporal denoise of the photo, where the flow is
trusted), and that steadied frame is what AdaIN paints; the output blend then runs as usual.

Clips (validation only): a 2 s pan of kodim07_window_flowers (as ``benchmarks/video.py`` makes
its clips) and seconds 5 to 8 of ``big_buck_bunny_10s.mp4`` (the benchmark uses its first 3 s).

    python experiments/video_input_stabilise.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np

from video_feature_blend import report, score_adain_variant, validation_clips

STATE: dict = {"weight": 0.0, "previous": None}


def install() -> None:
    """Patch the frame loop (lab only): frames one at a time, each input steadied first."""
    import cv2

    import impasto.video.frames as frames
    from impasto.video.flow import resize_flow, warp

    one = frames.FrameStylizer._one

    def steadied(self, picture, motion):  # type: ignore[no-untyped-def]
        current = picture.astype(np.float32)
        previous = STATE["previous"]
        if STATE["weight"] > 0 and motion is not None and motion.flow is not None \
                and previous is not None and previous.shape == current.shape:
            h, w = picture.shape[:2]
            flow = resize_flow(motion.flow, (h, w))
            alpha = STATE["weight"] * cv2.resize(motion.trust.astype(np.float32), (w, h))
            current = cv2.blendLinear(warp(previous, flow), current, alpha, 1.0 - alpha)
        STATE["previous"] = current
        return one(self, np.clip(current + 0.5, 0, 255).astype(np.uint8), motion)

    def stream(self, items):  # type: ignore[no-untyped-def]
        for tag, frame in items:
            yield tag, self._one(frame, self.blender.motion(frame))

    frames.FrameStylizer._one = steadied
    frames.FrameStylizer.stream = stream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="bench-out/video/input_stabilise")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--variants", nargs="+", default=["0,0", "0,0.3", "0.5,0.3",
                                                          "0.7,0.3", "0.85,0.3", "0.85,0"],
                        help="input weight,output weight pairs")
    args = parser.parse_args()
    install()
    work = Path(args.out)
    clips = validation_clips(work, args.width)
    variants = [tuple(float(v) for v in pair.split(",")) for pair in args.variants]
    for name, (clip, start, duration) in clips.items():
        base = None
        for steady, output in variants:
            STATE["weight"], STATE["previous"] = steady, None
            out = work / f"{name.split()[0]}_{steady}_{output}.mp4"
            s = score_adain_variant(clip, start, duration, work, args.width, steady, output,
                                    out)
            base = base or s
            report(f"{name}: input {steady}, output {output}", s, base)


if __name__ == "__main__":
    main()
