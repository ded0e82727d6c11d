"""Seconds per optimisation step of impasto (fp32, bf16) and pastiche, against the compute floor.

What is measured, at each ``--sizes`` long side (default 256 and 512 px):

* a real photo (default ``kodim23_parrots``, 768x512) resized to that long side, aspect ratio
  kept (512 -> 512x341), with a real painting as the style (default ``starry_night``);
  ``--square`` centre-crops the photo to a square first.
* **impasto**: one evaluation of :class:`impasto.optim.objective.TransferObjective` (VGG-19 from
  :class:`impasto.features.VGG19` up to relu5_1, default content and Gram style losses, the
  weights of the default ``TransferConfig``) plus ``backward()`` to the pixels: exactly what the
  engine's L-BFGS closure does once per step. Precision ``fp32`` and ``bf16`` (autocast, see
  :mod:`impasto.runtime.precision`).
* **pastiche**: the same for the PyPI package ``pastiche``: a ``PasticheArtist`` built with the
  arguments its ``main()`` passes for one content/style pair at ``--size S`` (all other options at
  their CLI defaults), timing what its L-BFGS closure does once per step (``_calc_loss()`` plus
  ``backward()``). pastiche runs fp32 only.
* unless ``--no-optimizer-step``: the whole optimiser step too (impasto's engine
  :func:`impasto.optim.engine.optimise` with L-BFGS, timed between its per-step hooks, and
  pastiche's ``PasticheArtist.draw()``, what its CLI calls once per step). Both tools run
  ``torch.optim.LBFGS`` with ``max_iter=1`` and no line search, so one step is one loss
  evaluation plus the L-BFGS direction update.

Each impasto precision runs in both memory layouts (``--layouts``): NCHW and channels-last
(VGG-19's weights in channels-last, so its features and their gradients are too); the runtime
policy's choice for the optimiser (``choose_runtime("optimize")``) is marked as shipped.

Each figure is the median of ``--steps`` (default 5) calls after ``--warmup`` (default 2) in
each of ``--rounds`` rounds (default 1), the configurations taking turns within a round, so a
machine whose speed drifts slows them alike.

The compute floor: forward FLOPs of VGG-19 up to relu5_1 counted analytically from the
convolution shapes, ``2 * Cin * Cout * 9 * H * W`` per 3x3 convolution (13 convolutions; biases,
ReLU, pooling, Gram matrices and losses not counted), with each tool's own pooling arithmetic
(impasto pools with ``ceil_mode=True``, pastiche floors). A step costs 2 x forward FLOPs: the
backward pass goes to the input only (the weights are frozen, no weight gradients). The machine's
peak is measured, per dtype, as the better of two median rates: a ``--matmul-size`` square
matmul (default 4096x4096 @ 4096x4096, ``torch.matmul``) and one large 3x3 convolution (512 to
512 channels on 64 x 64, the shape of VGG's conv4 at 512 px), since the matmul library can be
slower than the convolution kernels on some CPUs (MKL's fp32 path on AMD, for one).
floor s/step = 2 * forward FLOPs / peak of the dtype the tool computes in; measured/floor says
how far from that floor a step is.

Run from the repository root (with the venv active)::

    python benchmarks/step_time.py --json bench-out/step_time.json

Options: ``--sizes 256 512 --steps 5 --warmup 2 --rounds 1 --precisions fp32 bf16
--layouts nchw channels_last --threads N
--device cpu --square --no-optimizer-step --skip-pastiche --data PATH``.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from _common import (
    data_dir,
    pastiche_artist,
    picture,
    run_header,
    table,
    write_json,
)
from impasto.config import TransferConfig
from impasto.features import LAYER_NAMES, VGG19
from impasto.image.io import open_image, split_alpha, to_tensor
from impasto.optim.engine import EngineOptions, optimise
from impasto.optim.objective import TransferObjective
from impasto.optim.pyramid import fit_long_side
from impasto.optim.transfer import MIN_STYLE_SIDE, output_size, resize, scale_objective, style_mix
from impasto.runtime.policy import choose_runtime
from impasto.runtime.precision import resolve_precision

#: Output channels of the convolutions of each VGG-19 block.
BLOCK_CHANNELS = (64, 128, 256, 512, 512)
#: The deepest layer both tools run with their default layers (style layer relu5_1).
DEEPEST = "relu5_1"


# ------------------------------------------------------------------------------ FLOPs and peak


def conv_shapes(height: int, width: int, *, ceil_mode: bool,
                deepest: str = DEEPEST) -> list[tuple[str, int, int, int, int]]:
    """(name, Cin, Cout, H, W) of every 3x3 convolution of VGG-19 up to ``deepest``."""
    shapes: list[tuple[str, int, int, int, int]] = []
    cin, h, w = 3, height, width
    for name in LAYER_NAMES[: LAYER_NAMES.index(deepest) + 1]:
        if name.startswith("conv"):
            cout = BLOCK_CHANNELS[int(name[4]) - 1]
            shapes.append((name, cin, cout, h, w))
            cin = cout
        elif name.startswith("pool"):
            halve = (lambda n: -(-n // 2)) if ceil_mode else (lambda n: n // 2)
            h, w = halve(h), halve(w)
    return shapes


def forward_flops(height: int, width: int, *, ceil_mode: bool) -> int:
    """Forward FLOPs of VGG-19 up to relu5_1: sum of 2 * Cin * Cout * 9 * H * W over the convs."""
    return sum(2 * cin * cout * 9 * h * w
               for _, cin, cout, h, w in conv_shapes(height, width, ceil_mode=ceil_mode))


def gram_flops(height: int, width: int, *, ceil_mode: bool) -> int:
    """Forward FLOPs of the five style Gram matrices (2 * C^2 * H * W each); not in the floor."""
    style = {"conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"}
    return sum(2 * cout * cout * h * w
               for name, _, cout, h, w in conv_shapes(height, width, ceil_mode=ceil_mode)
               if name in style)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def conv_peak(reps: int, dtype: torch.dtype, device: torch.device) -> dict[str, Any]:
    """FLOP/s of one large 3x3 convolution (512 -> 512 channels on 64 x 64, VGG's conv4 at
    512 px), forward: median of ``reps`` after one warm-up. Convolution kernels (oneDNN on
    CPUs) can beat the matmul library on some CPUs, so the peak is the better of the two."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 512, 64, 64, generator=gen).to(device=device, dtype=dtype)
    w = torch.randn(512, 512, 3, 3, generator=gen).to(device=device, dtype=dtype)
    flops = 2 * 512 * 512 * 9 * 64 * 64
    with torch.no_grad():
        times = time_calls(lambda: torch.nn.functional.conv2d(x, w, padding=1), warmup=1,
                           n=reps, device=device)
    median = statistics.median(times)
    return {"kind": "conv3x3 512x512 @ 64x64", "dtype": str(dtype).replace("torch.", ""),
            "times_s": times, "median_s": median, "flops": flops, "flop_per_s": flops / median}


def matmul_peak(n: int, reps: int, dtype: torch.dtype, device: torch.device) -> dict[str, Any]:
    """FLOP/s of an n x n @ n x n matmul: median of ``reps`` after one warm-up."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)
    b = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)
    times = time_calls(lambda: torch.matmul(a, b), warmup=1, n=reps, device=device)
    median = statistics.median(times)
    return {"n": n, "dtype": str(dtype).replace("torch.", ""), "times_s": times,
            "median_s": median, "flops": 2 * n**3, "flop_per_s": 2 * n**3 / median}


# ----------------------------------------------------------------------------------- timing


def time_calls(fn: Callable[[], Any], *, warmup: int, n: int, device: torch.device) -> list[float]:
    """Seconds of each of ``n`` calls of ``fn``, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return times


def load_rgb(path: Path, device: torch.device) -> torch.Tensor:
    rgb, _ = split_alpha(open_image(path))
    return to_tensor(rgb).to(device)


def impasto_objective(vgg: VGG19, content: torch.Tensor, style: torch.Tensor, size: int,
                      precision: str) -> tuple[TransferObjective, torch.Tensor]:
    """The objective ``run_transfer`` builds at a single scale of ``size`` px, default config."""
    cfg = TransferConfig(size=size, scales=1, precision=precision)  # type: ignore[arg-type]
    h, w = output_size(content, cfg)
    style_side = max(MIN_STYLE_SIDE, round((cfg.style_scale or 1.0) * max(h, w)))
    content_weight, style_weight = cfg.weights()
    objective = scale_objective(
        vgg, cfg, resize(content, (h, w)),
        [resize(style, fit_long_side(style.shape[-2], style.shape[-1], style_side))],
        style_mix(cfg, 1), content_weight=content_weight, style_weight=style_weight,
        precision=resolve_precision(precision, content.device),
    )
    return objective, resize(content, (h, w))


def time_impasto(vgg: VGG19, content: torch.Tensor, style: torch.Tensor, size: int,
                 precision: str, layout: str, args: argparse.Namespace) -> dict[str, Any]:
    device = content.device
    objective, start = impasto_objective(vgg, content, style, size, precision)
    x = start.detach().clone().requires_grad_(True)

    def closure() -> None:  # what the engine's L-BFGS closure does
        x.grad = None
        loss, _parts = objective(x)
        if torch.isfinite(loss):
            loss.backward()

    times = time_calls(closure, warmup=args.warmup, n=args.steps, device=device)
    h, w = x.shape[-2:]
    shipped = choose_runtime("optimize", device, precision=precision).channels_last
    result: dict[str, Any] = {"tool": "impasto", "precision": precision, "layout": layout,
                              "shipped_layout": shipped == (layout == "channels_last"),
                              "height": int(h), "width": int(w), "times_s": times}
    if not args.no_optimizer_step:
        stamps: list[float] = []

        def hook(step: int, loss: float, parts: dict[str, float], image: torch.Tensor) -> None:
            sync(device)
            stamps.append(time.perf_counter())

        sync(device)
        stamps.append(time.perf_counter())
        optimise(objective, start, args.warmup + args.steps, options=EngineOptions(),
                 on_step=hook)
        intervals = [b - a for a, b in pairwise(stamps)]
        result["optimizer_step_times_s"] = intervals[args.warmup:]
    return result


def time_pastiche(content_path: Path, style_path: Path, size: int, device: torch.device,
                  args: argparse.Namespace) -> dict[str, Any]:
    artist = pastiche_artist(content_path, style_path, size, str(device))

    def closure() -> None:  # the body of the closure in PasticheArtist.draw()
        artist.optimizer.zero_grad()
        loss = artist._calc_loss()
        loss.backward()
        artist.loss = loss.item()

    times = time_calls(closure, warmup=args.warmup, n=args.steps, device=device)
    h, w = artist.content_size
    result: dict[str, Any] = {"tool": "pastiche", "precision": "fp32", "layout": "nchw",
                              "height": int(h), "width": int(w), "times_s": times}
    if not args.no_optimizer_step:
        result["optimizer_step_times_s"] = time_calls(artist.draw, warmup=args.warmup,
                                                      n=args.steps, device=device)
    return result


# ------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    p.add_argument("--data", help="folder with content/ and styles/ (default ../shared/data)")
    p.add_argument("--content", default="kodim23_parrots", help="content photo (name, no .jpg)")
    p.add_argument("--style", default="starry_night", help="style painting (name, no .jpg)")
    p.add_argument("--square", action="store_true",
                   help="centre-crop the photo to a square first (default: keep its 3:2 aspect)")
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="long sides in px")
    p.add_argument("--steps", type=int, default=5, help="timed steps (median taken)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"],
                   choices=["fp32", "bf16", "fp16"], help="impasto precisions")
    p.add_argument("--layouts", nargs="+", default=["nchw", "channels_last"],
                   choices=["nchw", "channels_last"], help="impasto's memory layouts")
    p.add_argument("--rounds", type=int, default=1,
                   help="rounds, the configurations taking turns in each (default 1)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--matmul-size", type=int, default=4096, help="side of the peak-rate matmul")
    p.add_argument("--matmul-reps", type=int, default=5, help="timed matmuls (median taken)")
    p.add_argument("--no-optimizer-step", action="store_true",
                   help="skip timing whole optimiser steps (L-BFGS included)")
    p.add_argument("--skip-pastiche", action="store_true", help="time impasto only")
    p.add_argument("--json", metavar="PATH", help="write all figures to this JSON file")
    args = p.parse_args(argv)
    if args.steps < 1 or args.warmup < 0 or args.rounds < 1:
        p.error("--steps and --rounds must be >= 1 and --warmup >= 0")
    return args


def crop_square(path: Path, folder: Path) -> Path:
    with Image.open(path) as im:
        im = im.convert("RGB")
        side = min(im.size)
        left, top = (im.width - side) // 2, (im.height - side) // 2
        out = folder / f"{path.stem}_square.png"
        im.crop((left, top, left + side, top + side)).save(out)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = data_dir(args.data)
    content_path = picture(root, "content", args.content)
    style_path = picture(root, "styles", args.style)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    tmp = Path(tempfile.mkdtemp(prefix="impasto-bench-"))
    try:
        if args.square:
            content_path = crop_square(content_path, tmp)
        payload = run(args, content_path, style_path, device)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_json(args.json, payload)
    return 0


def run(args: argparse.Namespace, content_path: Path, style_path: Path,
        device: torch.device) -> dict[str, Any]:
    print(f"content {content_path.name}, style {style_path.name}, device {device}, "
          f"torch threads {torch.get_num_threads()}", flush=True)
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    wanted = {"fp32", *args.precisions}
    peaks = {}
    for name in sorted(wanted, key=["fp32", "bf16", "fp16"].index):
        mm = matmul_peak(args.matmul_size, args.matmul_reps, dtypes[name], device)
        conv = conv_peak(args.matmul_reps, dtypes[name], device)
        best = max(mm, conv, key=lambda p: p["flop_per_s"])
        peaks[name] = {**best, "candidates": {"matmul": mm, "conv": conv}}
        print(f"peak {name}: {peaks[name]['flop_per_s'] / 1e9:.1f} GFLOP/s (best of "
              f"{args.matmul_size}^3 matmul {mm['flop_per_s'] / 1e9:.1f} and 3x3 conv "
              f"{conv['flop_per_s'] / 1e9:.1f}, medians of {args.matmul_reps})", flush=True)

    cfg = TransferConfig()
    layers = list(cfg.content_layers) + list(cfg.style_layers)
    formats = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}
    vggs = {layout: VGG19(layers).to(device, memory_format=formats[layout])
            for layout in args.layouts}
    content = load_rgb(content_path, device)
    style = load_rgb(style_path, device)

    results: list[dict[str, Any]] = []
    for size in args.sizes:
        merged: dict[tuple[str, str, str], dict[str, Any]] = {}
        for round_index in range(args.rounds):
            runs: list[dict[str, Any]] = []
            for precision in args.precisions:
                for layout in args.layouts:
                    print(f"[{size} px, round {round_index + 1}] impasto {precision} {layout} ...",
                          flush=True)
                    runs.append(time_impasto(vggs[layout], content, style, size, precision,
                                             layout, args))
                    gc.collect()
            if not args.skip_pastiche:
                print(f"[{size} px, round {round_index + 1}] pastiche fp32 ...", flush=True)
                runs.append(time_pastiche(content_path, style_path, size, device, args))
                gc.collect()
            for r in runs:
                key = (r["tool"], r["precision"], r["layout"])
                if key not in merged:
                    merged[key] = r
                    continue
                for field in ("times_s", "optimizer_step_times_s"):
                    if field in r:
                        merged[key][field] = merged[key][field] + r[field]
        per_size = list(merged.values())
        pastiche_median = next((statistics.median(r["times_s"]) for r in per_size
                                if r["tool"] == "pastiche"), None)
        for r in per_size:
            r["size"] = size
            r["median_s"] = statistics.median(r["times_s"])
            fwd = forward_flops(r["height"], r["width"], ceil_mode=r["tool"] == "impasto")
            r["forward_flops"] = fwd
            r["step_flops"] = 2 * fwd
            r["gram_forward_flops"] = gram_flops(r["height"], r["width"],
                                                 ceil_mode=r["tool"] == "impasto")
            peak = peaks[r["precision"]]["flop_per_s"]
            r["floor_s"] = 2 * fwd / peak
            r["measured_over_floor"] = r["median_s"] / r["floor_s"]
            r["achieved_flop_per_s"] = 2 * fwd / r["median_s"]
            r["pastiche_over_impasto"] = (pastiche_median / r["median_s"]
                                          if pastiche_median and r["tool"] == "impasto" else None)
            if "optimizer_step_times_s" in r:
                r["optimizer_step_median_s"] = statistics.median(r["optimizer_step_times_s"])
        results.extend(per_size)

    headers = ["size", "tool/precision", "s/step", "pastiche/impasto", "floor s/step",
               "measured/floor"]
    with_opt = not args.no_optimizer_step
    if with_opt:
        headers.append("opt. step s")
    rows = []
    for r in results:
        shipped = " (shipped)" if r.get("shipped_layout") and r["precision"] != "fp16" else ""
        row = [f"{r['size']} ({r['width']}x{r['height']})",
               f"{r['tool']} {r['precision']} {r['layout']}{shipped}",
               r["median_s"], r["pastiche_over_impasto"], r["floor_s"], r["measured_over_floor"]]
        if with_opt:
            row.append(r.get("optimizer_step_median_s"))
        rows.append(row)
    print()
    print(f"median of {args.steps} steps after {args.warmup} warm-up; s/step = one loss "
          "evaluation + backward to the pixels; floor = 2 x forward conv FLOPs / peak")
    print(table(headers, rows))
    return {
        **run_header("step_time"),
        "settings": {
            "content": content_path.name, "style": style_path.name, "square": args.square,
            "sizes": args.sizes, "steps": args.steps, "warmup": args.warmup,
            "rounds": args.rounds, "precisions": args.precisions, "layouts": args.layouts,
            "device": str(device),
            "matmul_size": args.matmul_size, "matmul_reps": args.matmul_reps,
            "flop_count": "2*Cin*Cout*9*H*W per 3x3 conv, conv1_1..conv5_1; step = 2 x forward",
        },
        "peaks": peaks,
        "results": results,
        "notes": [
            "impasto pools with ceil_mode=True, pastiche with floor: shapes can differ by 1 px "
            "below the first pooling, so the FLOPs are counted per tool",
            "peak GFLOP/s: " + ", ".join(f"{k} {v['flop_per_s'] / 1e9:.1f}"
                                        for k, v in peaks.items()),
        ],
    }


if __name__ == "__main__":
    sys.exit(main())
