"""Lab: the temporal blend's weight and the warp's interpolation, chosen on a validation clip.

A 2 s pan of a validation photo (kodim07_window_flowers, 480 x 270, made as
``benchmarks/video.py`` makes its clips) stylised in ``starry-night`` by each method frame by
frame and at each weight, with the previous output warped bilinearly or bicubically; the
warping error and style distance of each (``impasto.video.score``).

    python experiments/video_blend_search.py --model bench-out/video/starry-tiny
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _common import data_dir
from video import pan_clip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", default="bench-out/video/blend_search")
    args = parser.parse_args()

    import impasto.video.temporal as temporal
    from impasto.video.render import VideoJob, render_video
    from impasto.video.score import score_video

    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    clip = pan_clip(data_dir(None) / "content" / "kodim07_window_flowers.jpg",
                    work / "validation_pan.mp4", seconds=2, size=(480, 270))
    methods = {"adain (distilled encoder)": ("adain", {"encoder": "student-relu4_1"}),
               "adain": ("adain", {}), "network": ("network", {"model": args.model})}
    for label, (method, options) in methods.items():
        for weight in (0.0, 0.3, 0.5, 0.7):
            for cubic in ((False,) if weight == 0 else (False, True)):
                temporal.CUBIC = cubic
                out = work / f"{method}_{len(options)}_{weight}_{cubic}.mp4"
                render_video(VideoJob(clip, [] if method == "network" else ["starry-night"],
                                      out, method, options, weight, None))
                s = score_video(clip, out, style="starry-night", every=8)
                print(f"{label}, weight {weight}, {'bicubic' if cubic else 'bilinear'}: "
                      f"warping error {s.short_term:.6f}, style distance "
                      f"{s.style_distance:.4f}", flush=True)


if __name__ == "__main__":
    main()
