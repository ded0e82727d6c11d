"""Lab: temporal blending of AdaIN's features before the decoder, against blending its output
pictures, on validation clips.

The output blend (``impasto.video.temporal``) averages two textures that never line up to the
pixel, so AdaIN's sharp textures lose style where it holds them still. Here the transformed
relu4_1 features of each frame are blended with the previous frame's, warped along the flow
(at 1/8 of the frame's size) and weighted by the same trust, before the decoder paints them: the
decoder draws one texture from features that barely change. Variants: frame by frame, output
blends, feature blends with and without a lighter output blend.

Clips (validation only): a 2 s pan of kodim07_window_flowers (as ``benchmarks/video.py`` makes
its clips) and seconds 5 to 8 of ``big_buck_bunny_10s.mp4`` (the benchmark uses its first 3 s).

    python experiments/video_feature_blend.py
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import numpy as np
import torch
import torch.nn.functional as F

from _common import data_dir
from video import BUNNY, pan_clip

STATE: dict = {"flow": None, "trust": None, "previous": None, "weight": 0.0}


def install() -> None:
    """Patch the AdaIN decoder's input and the frame loop (lab only)."""
    import cv2

    import impasto.arbitrary.core as core
    import impasto.video.frames as frames
    from impasto.video.flow import resize_flow

    decode = core.ArbitraryStylizer._decode

    def blended_decode(self, layer, f):  # type: ignore[no-untyped-def]
        flow, trust, previous = STATE["flow"], STATE["trust"], STATE["previous"]
        if STATE["weight"] > 0 and flow is not None and previous is not None \
                and previous.shape == f.shape:
            fh, fw = f.shape[-2:]
            h, w = flow.shape[:2]
            m = core.MARGIN
            pads = (m, fh * 8 - h - m, m, fw * 8 - w - m)  # top, bottom, left, right
            flow_p = cv2.copyMakeBorder(flow, *pads, cv2.BORDER_REPLICATE)
            trust_p = cv2.copyMakeBorder(trust, *pads, cv2.BORDER_CONSTANT, value=0.0)
            small = resize_flow(flow_p, (fh, fw))
            alpha = cv2.resize(trust_p, (fw, fh), interpolation=cv2.INTER_AREA)
            ys, xs = np.mgrid[0:fh, 0:fw].astype(np.float32)
            gx = (xs + small[..., 0] + 0.5) / fw * 2 - 1
            gy = (ys + small[..., 1] + 0.5) / fh * 2 - 1
            grid = torch.from_numpy(np.stack([gx, gy], -1))[None]
            warped = F.grid_sample(previous, grid, mode="bilinear", padding_mode="border",
                                   align_corners=False)
            a = torch.from_numpy(STATE["weight"] * alpha)[None, None]
            f = (1 - a) * f + a * warped
        STATE["previous"] = f.detach().clone()
        return decode(self, layer, f)

    core.ArbitraryStylizer._decode = blended_decode
    one = frames.FrameStylizer._one

    def frame(self, picture, motion):  # type: ignore[no-untyped-def]
        if motion is None or motion.flow is None:
            STATE["flow"] = STATE["trust"] = None
            STATE["previous"] = None
        else:
            h, w = picture.shape[:2]
            STATE["flow"] = resize_flow(motion.flow, (h, w))
            STATE["trust"] = cv2.resize(motion.trust.astype(np.float32), (w, h))
        return one(self, picture, motion)

    frames.FrameStylizer._one = frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="bench-out/video/feature_blend")
    parser.add_argument("--width", type=int, default=640)
    args = parser.parse_args()
    install()
    work = Path(args.out)
    clips = validation_clips(work, args.width)
    # (feature weight, output blend weight)
    variants = [(0.0, 0.0), (0.0, 0.3), (0.0, 0.5), (0.5, 0.0), (0.7, 0.0), (0.5, 0.15),
                (0.7, 0.15)]
    for name, (clip, start, duration) in clips.items():
        base = None
        for feature, output in variants:
            STATE["weight"] = feature
            out = work / f"{name.split()[0]}_{feature}_{output}.mp4"
            s = score_adain_variant(clip, start, duration, work, args.width, feature, output,
                                    out)
            base = base or s
            report(f"{name}: features {feature}, output {output}", s, base)


def score_adain_variant(clip: Path, start: float, duration: float | None, work: Path,
                        width: int, lab_weight: float, output: float, out: Path,
                        method: str = "adain") -> Any:
    """Render ``clip`` with AdaIN (or ``method``) and Starry Night into ``out`` at output
    blend ``output`` and score it against what was stylised. The lab's own blend
    (``lab_weight``) needs the motion, which runs only while the output blend is on, so a tiny
    output weight keeps it running."""
    from impasto.video.render import VideoJob, render_video
    from impasto.video.score import score_video

    weight = output if output > 0 or lab_weight == 0 else 1e-6
    render_video(VideoJob(clip, ["starry-night"], out, method, {}, weight, width,
                          start=start, duration=duration))
    return score_video(_cut(clip, start, duration, work), out, style="starry-night", every=8)


def report(label: str, s: Any, base: Any) -> None:
    """One line: the warping error and style distance of ``s``, and each against ``base``."""
    print(f"{label}: warping error {s.short_term:.6f} ({s.short_term / base.short_term:.2f} "
          f"of frame by frame), style distance {s.style_distance:.4f} "
          f"({s.style_distance / base.style_distance - 1:+.1%})", flush=True)


def validation_clips(work: Path, width: int) -> dict[str, tuple[Path, float, float | None]]:
    """The validation clips (made in ``work``), each with its start and duration: a 2 s pan of
    kodim07_window_flowers at ``width`` and seconds 5 to 8 of the bunny clip."""
    work.mkdir(parents=True, exist_ok=True)
    root = data_dir(None)
    return {"pan": (pan_clip(root / "content" / "kodim07_window_flowers.jpg",
                             work / "validation_pan.mp4", seconds=2,
                             size=(width, width * 9 // 16)), 0.0, None),
            "bunny 5-8 s": (root / "video" / BUNNY, 5.0, 3.0)}


def _cut(clip: Path, start: float, duration: float | None, work: Path) -> Path:
    """``clip`` from ``start`` for ``duration`` s, re-encoded losslessly (what was stylised)."""
    if duration is None:
        return clip
    import av

    out = work / f"{clip.stem}_{start:g}_{duration:g}.mkv"
    if out.exists():
        return out
    with av.open(str(clip)) as src, av.open(str(out), "w") as dst:
        s = src.streams.video[0]
        stream = dst.add_stream("ffv1", rate=24)
        stream.width, stream.height, stream.pix_fmt = s.width, s.height, "yuv420p"
        n = 0
        for frame in src.decode(s):
            t = float(frame.pts * s.time_base)
            if t < start - 1e-6:
                continue
            if t >= start + duration - 1e-6:
                break
            frame.pts = n
            frame.time_base = Fraction(1, 24)
            n += 1
            dst.mux(stream.encode(frame.reformat(format="yuv420p")))
        dst.mux(stream.encode(None))
    return out


if __name__ == "__main__":
    main()
