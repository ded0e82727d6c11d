"""Lab: the optimiser's L-BFGS memory carried from one video frame to the next, on the
validation clips.

A fresh L-BFGS knows nothing of the objective's curvature, so the first of a frame's few steps
is a tiny gradient step. Seeded with what the previous frame's run learnt (its last pairs of
steps and gradient changes and its scale: ``impasto.optim.engine.LbfgsMemory``), the first step
is a full quasi-Newton step. Each run is ``STEPS:PAIRS`` (``PAIRS`` ``none``: no memory, as
before; ``0``: the scale only); the warping error and style distance of each on a 2 s pan of
kodim07_window_flowers (a validation photo, made as ``benchmarks/video.py`` makes its clips)
and seconds 5 to 8 of ``big_buck_bunny_10s.mp4`` (the benchmark uses its first 3 s).

    python experiments/video_lbfgs_memory.py 4:none 3:none 3:0 3:5
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from video_feature_blend import _cut, validation_clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="STEPS:PAIRS (PAIRS: none, or a number)")
    parser.add_argument("--clips", nargs="+", default=["pan", "bunny 5-8 s"])
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--out", default="bench-out/video/lbfgs_memory")
    args = parser.parse_args()

    import impasto.video.frames as frames
    from impasto.video.render import VideoJob, render_video
    from impasto.video.score import score_video

    work = Path(args.out)
    clips = validation_clips(work, args.width)
    for name in args.clips:
        clip, start, duration = clips[name]
        cut = _cut(clip, start, duration, work)
        for run in args.runs:
            steps, pairs = run.split(":")
            frames.FRAME_STEPS = int(steps)
            frames.LBFGS_PAIRS = None if pairs == "none" else int(pairs)
            out = work / f"{name.split()[0]}_{args.precision}_{steps}_{pairs}.mp4"
            started = time.perf_counter()
            summary = render_video(VideoJob(
                clip, ["starry-night"], out, "optimize",
                {"seed": 0, "precision": args.precision}, None, args.width, start=start,
                duration=duration, provenance=False))
            seconds = time.perf_counter() - started
            s = score_video(cut, out, style="starry-night", every=12)
            print(json.dumps({"clip": name, "steps": int(steps), "pairs": pairs,
                              "precision": args.precision,
                              "short": round(s.short_term, 6), "long": round(s.long_term, 6),
                              "style": round(s.style_distance, 4),
                              "seconds_per_frame": round(seconds / summary["frames"], 2)}),
                  flush=True)


if __name__ == "__main__":
    main()
