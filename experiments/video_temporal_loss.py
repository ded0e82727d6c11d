"""Lab: the weight of the optimiser's temporal loss (Ruder et al. 2016) and the steps per frame,
chosen on a validation clip.

A pan of a validation photo (kodim07_window_flowers, made as ``benchmarks/video.py`` makes its
clips) stylised in ``starry-night`` by the optimiser (frame by frame with
``--frame-by-frame``) and with temporal
consistency (the blend at its default weight, the warped previous output as the start) for
each temporal loss weight (``frames.TEMPORAL_LOSS``) and steps per frame
(``frames.FRAME_STEPS``); the warping error, the style distance and the seconds per frame of
each (``impasto.video.score``).

    python experiments/video_temporal_loss.py --losses 0 1 10 --steps 40 20
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _common import data_dir
from video import pan_clip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--losses", type=float, nargs="+", default=[0.0, 1.0, 10.0])
    parser.add_argument("--steps", type=int, nargs="+", default=[40])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--size", type=int, nargs=2, default=[480, 270])
    parser.add_argument("--frame-by-frame", action="store_true",
                        help="also frame by frame (a still's optimisation per frame: slow)")
    parser.add_argument("--out", default="bench-out/video/temporal_loss")
    args = parser.parse_args()

    import impasto.video.frames as frames
    from impasto.video.render import VideoJob, render_video
    from impasto.video.score import score_video

    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    clip = pan_clip(data_dir(None) / "content" / "kodim07_window_flowers.jpg",
                    work / "validation_pan.mp4", seconds=args.seconds, size=tuple(args.size))
    options = {"seed": 0}
    runs = [("frame by frame", 0.0, 0.0, frames.FRAME_STEPS)] if args.frame_by_frame else []
    runs += [(f"loss {loss:g}, {steps} steps", None, loss, steps)
             for steps in args.steps for loss in args.losses]
    for label, weight, loss, steps in runs:
        frames.TEMPORAL_LOSS, frames.FRAME_STEPS = loss, steps
        out = work / f"optimize_{label.replace(' ', '_').replace(',', '')}.mp4"
        started = time.perf_counter()
        summary = render_video(VideoJob(clip, ["starry-night"], out, "optimize", options,
                                        weight, None))
        seconds = time.perf_counter() - started
        s = score_video(clip, out, style="starry-night", every=6)
        print(f"{label}: warping error {s.short_term:.6f} (long {s.long_term:.6f}), style "
              f"distance {s.style_distance:.4f}, {seconds / summary['frames']:.2f} s per frame",
              flush=True)


if __name__ == "__main__":
    main()
