"""Lab: how much of AdaIN's flicker left by the temporal blend is the flow's imprecision, on
validation clips.

The blend carries the last output along DIS flow estimated at 320 px with the ``fast`` preset
(what a real-time network video can afford). AdaIN's textures are sharp, so a flow a fraction
of a pixel off moves them against the motion, and that shows as flicker; AdaIN spends a few
hundred milliseconds a frame anyway, so a finer flow costs it little. Variants: the flow's
preset and the long side it is estimated at, with the blend at AdaIN's default weight, and
optionally the steadied input of ``video_input_stabilise.py``.

Clips (validation only): a 2 s pan of kodim07_window_flowers (as ``benchmarks/video.py`` makes
its clips) and seconds 5 to 8 of ``big_buck_bunny_10s.mp4`` (the benchmark uses its first 3 s).

    python experiments/video_flow_quality.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from video_feature_blend import _cut, validation_clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="bench-out/video/flow_quality")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--weight", type=float, default=0.3)
    parser.add_argument("--variants", nargs="+",
                        default=["fast,320", "medium,320", "fast,640", "medium,640"],
                        help="preset,side pairs")
    args = parser.parse_args()
    from impasto.video.render import VideoJob, render_video
    from impasto.video.score import score_video
    from impasto.video.temporal import MotionSettings

    work = Path(args.out)
    clips = validation_clips(work, args.width)
    for name, (clip, start, duration) in clips.items():
        cut = _cut(clip, start, duration, work)
        base = score_video(cut, _render(render_video, VideoJob, clip, work / f"{name[:3]}_0.mp4",
                                        0.0, args.width, start, duration),
                           style="starry-night", every=8)
        print(f"{name}: frame by frame: warping error {base.short_term:.6f}, style distance "
              f"{base.style_distance:.4f}", flush=True)
        for variant in args.variants:
            preset, side = variant.split(",")
            started = time.perf_counter()
            out = _render(render_video, VideoJob, clip, work / f"{name[:3]}_{preset}_{side}.mp4",
                          args.weight, args.width, start, duration,
                          MotionSettings(preset, int(side)))
            seconds = time.perf_counter() - started
            s = score_video(cut, out, style="starry-night", every=8)
            print(f"{name}: flow {preset} at {side} px: warping error {s.short_term:.6f} "
                  f"({s.short_term / base.short_term:.2f} of frame by frame), style distance "
                  f"{s.style_distance:.4f} ({s.style_distance / base.style_distance - 1:+.1%}), "
                  f"{seconds:.0f} s", flush=True)


def _render(render_video, VideoJob, clip, out, weight, width, start, duration,
            motion=None):  # type: ignore[no-untyped-def]
    from impasto.video.frames import FrameStylizer

    stylizer = FrameStylizer(["starry-night"], method="adain", temporal=weight,
                             motion=motion)
    render_video(VideoJob(clip, ["starry-night"], out, "adain", {}, weight, width,
                          start=start, duration=duration), stylizer=stylizer)
    return out


if __name__ == "__main__":
    main()
