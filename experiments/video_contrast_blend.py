"""Lab: a temporal blend that keeps the texture's contrast, for AdaIN, on the validation clips.

The output blend averages the frame's texture with the previous output's carried along the
flow; where the two do not line up to the pixel (everywhere in a pan, where every pixel is
resampled every frame) the average is a flatter texture, which is what costs AdaIN its style
distance at higher blend weights. Here the blended picture's detail (what a Gaussian blur of
``--sigma`` px takes away) is scaled back up to the local contrast of the frame's own
stylisation, by at most what averaging two unrelated textures loses
(1 / sqrt(a^2 + (1 - a)^2) at weight a): where the two textures agree the blend keeps its
contrast and nothing changes (no gain builds up from frame to frame), where they do not the
flattening is undone (after Heitz and Neyret 2018's variance-preserving blend of textures).

Clips (validation only): a 2 s pan of kodim07_window_flowers (as ``benchmarks/video.py`` makes
its clips) and seconds 5 to 8 of ``big_buck_bunny_10s.mp4`` (the benchmark uses its first 3 s).

    python experiments/video_contrast_blend.py --weights 0.3 0.5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from video_feature_blend import report, score_adain_variant, validation_clips

SETTINGS = {"on": False, "sigma": 3.0}


def install() -> None:
    """Patch the blender's last step (lab only)."""
    import cv2

    import impasto.video.temporal as temporal

    finish = temporal.TemporalBlender.finish

    def preserving(self, styled):  # type: ignore[no-untyped-def]
        prediction = self._prediction
        out = finish(self, styled)
        if not SETTINGS["on"] or prediction is None or prediction[0].shape != styled.shape:
            return out
        alpha = prediction[1][..., None]
        styled = np.ascontiguousarray(styled, dtype=np.float32)

        def blur(x):  # type: ignore[no-untyped-def]
            return cv2.GaussianBlur(x, (0, 0), SETTINGS["sigma"])

        mean_b, mean_s = blur(out), blur(styled)
        var_b = np.maximum(blur(out * out) - mean_b * mean_b, 1e-8)
        var_s = np.maximum(blur(styled * styled) - mean_s * mean_s, 0.0)
        most = 1.0 / np.sqrt(alpha ** 2 + (1.0 - alpha) ** 2)
        gain = np.clip(np.sqrt(var_s / var_b), 1.0, most)
        out = (mean_b + (out - mean_b) * gain).astype(np.float32)
        if self._keep:
            self._output = out
        return out

    temporal.TemporalBlender.finish = preserving


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=float, nargs="+", default=[0.3, 0.5])
    parser.add_argument("--sigma", type=float, default=3.0)
    parser.add_argument("--clips", nargs="+", default=["pan", "bunny 5-8 s"])
    parser.add_argument("--method", default="adain", choices=("adain", "wct"))
    parser.add_argument("--blends", nargs="+", default=["plain", "kept"],
                        choices=("plain", "kept"))
    parser.add_argument("--no-base", dest="base", action="store_false",
                        help="skip frame by frame (each line's share is then of the first)")
    parser.add_argument("--out", default="bench-out/video/contrast_blend")
    parser.add_argument("--width", type=int, default=640)
    args = parser.parse_args()
    install()
    SETTINGS["sigma"] = args.sigma
    work = Path(args.out)
    clips = validation_clips(work, args.width)
    for name in args.clips:
        clip, start, duration = clips[name]
        SETTINGS["on"] = False
        base = None
        tag = f"{args.method}_{name.split()[0]}"
        if args.base:
            base = score_adain_variant(clip, start, duration, work, args.width, 0.0, 0.0,
                                       work / f"{tag}_frame_by_frame.mp4", args.method)
            report(f"{args.method}, {name}: frame by frame", base, base)
        for weight in args.weights:
            for blend in args.blends:
                SETTINGS["on"] = blend == "kept"
                out = work / f"{tag}_{weight}_{blend}.mp4"
                s = score_adain_variant(clip, start, duration, work, args.width, 0.0, weight,
                                        out, args.method)
                base = base or s
                report(f"{args.method}, {name}: weight {weight}, contrast {blend} "
                       f"(sigma {args.sigma:g})", s, base)


if __name__ == "__main__":
    main()
