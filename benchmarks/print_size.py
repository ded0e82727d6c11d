"""Print sizes with bounded memory: peak RSS and time per megapixel across sizes, tiled.

Two modes, each measurement in a fresh child process (this script with ``--child``) that reports
its own peak resident set size (``VmHWM`` from /proc/self/status):

* ``sweep`` (default): one content/style pair at sides 1024, 2048 and 4096 px (with ``--square``
  the content is cropped to a square: 1, 4 and 16.8 MP) with the same ``--max-memory`` budget,
  ``--steps`` steps at the top scale only (``scales=1``; 8 steps are one sweep over the tiles;
  ``--stop-after K`` stops after K of them, i.e. K/8 of the tiles, enough for the peak, which
  every tile of a size reaches). Reports peak RSS, its spread over the sizes (goal:
  within 20 %), seconds per step and per step per megapixel, the tile plan, and projects the
  peak for 8192 and 16384 px from the tile model (whole-picture buffers + one tile's working set
  + the process baseline, fitted to the measured points).
* ``full``: a finished picture at ``--size`` (default 4096) with the default preset (300 steps
  over the automatic pyramid) under ``--max-memory``; reports seconds and peak RSS, writes the
  picture, a 512 px crop around a crossing of the tile grid (``docs/images/tile_border_crop.jpg``),
  and the seam measure: mean squared gradient of the picture on columns/rows where tile borders
  of the zero-phase grid fall, over the mean on all other columns/rows (1.0 = no trace).
* ``seams``: the default preset at ``--size`` twice, in one piece (``--reference-memory``) and
  tiled (``--max-memory``); the seam measure of both on the same lines, their ratio (1.0 = the
  tiles left no trace beyond the picture's own edges), and the mean difference of the pictures.

    python benchmarks/print_size.py --mode sweep --square --max-memory 2GB \\
        --json bench-out/print_sweep.json
    python benchmarks/print_size.py --mode full --square --size 4096 --max-memory 6GB \\
        --json bench-out/print_full.json
    python benchmarks/print_size.py --mode seams --size 2048 --max-memory 2GB \\
        --json bench-out/print_seams.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import machine_info, package_versions

MARKER = "@@impasto-print@@"
#: Tile margin (impasto.optim.tiles.DEFAULT_MARGIN), reported with the tile core.
DEFAULT_MARGIN = 64


def peak_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def child(args: argparse.Namespace) -> int:

    import impasto

    stylizer = impasto.Stylizer("cpu")
    steps: list[float] = []
    last = [time.perf_counter()]
    tile: list[int | None] = [None]
    cancel = impasto.CancelToken()

    def on_progress(event: impasto.Progress) -> None:
        now = time.perf_counter()
        if event.scale == event.n_scales:
            steps.append(now - last[0])
            tile[0] = event.tile
            if args.stop_after and len(steps) >= args.stop_after:
                cancel.cancel()
        last[0] = now

    options: dict[str, Any] = {"size": args.size, "seed": 0, "max_memory": args.max_memory}
    if args.mode == "sweep":
        options.update(iterations=args.steps, scales=1)
    from impasto.config import TransferConfig
    from impasto.runtime.memory import resident_bytes

    cfg = TransferConfig()
    stylizer.pipeline.optimize.network(
        list(cfg.content_layers) + list(cfg.style_layers), cfg.pooling, "zeros",
        stylizer.pipeline.runtime("optimize", cfg))
    baseline_mib = resident_bytes(stylizer.device) / 2**20
    content: Any = args.content
    if args.square:
        from PIL import Image

        with Image.open(args.content) as im:
            side = min(im.size)
            left, top = (im.width - side) // 2, (im.height - side) // 2
            content = im.convert("RGB").crop((left, top, left + side, top + side))
    started = time.perf_counter()
    try:
        result = stylizer.stylize(content, args.style, callback=on_progress, cancel=cancel,
                                  **options)
    except impasto.Cancelled:
        # --stop-after: enough of the top scale for the memory figure; no picture.
        print(MARKER + json.dumps({
            "size": args.size, "megapixels": _megapixels(args.size, content),
            "seconds": time.perf_counter() - started, "step_seconds": steps,
            "peak_mib": peak_kib() / 1024, "tile_core": tile[0],
            "tile_margin": DEFAULT_MARGIN if tile[0] else None, "output": None,
            "baseline_mib": baseline_mib,
            "stopped_after_steps": len(steps)}), flush=True)
        return 0
    seconds = time.perf_counter() - started
    w, h = result.image.size
    margin = DEFAULT_MARGIN if tile[0] else None
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result.save(out)
    print(MARKER + json.dumps({
        "size": args.size, "width": w, "height": h, "megapixels": w * h / 1e6,
        "seconds": seconds, "step_seconds": steps, "peak_mib": peak_kib() / 1024,
        "tile_core": tile[0], "tile_margin": margin, "baseline_mib": baseline_mib,
        "output": str(out),
    }), flush=True)
    return 0


def _megapixels(size: int, content: Any) -> float:
    """Megapixels of the output at long side ``size`` (tiled outputs: multiples of 16)."""
    from PIL import Image

    im = content if isinstance(content, Image.Image) else Image.open(content)
    w, h = im.size
    scale = size / max(w, h)
    return round(w * scale / 16) * 16 * round(h * scale / 16) * 16 / 1e6


def run_child(args: argparse.Namespace, size: int, out: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", "--mode", args.mode, "--size", str(size),
           *(["--square"] if args.square else []),
           *(["--stop-after", str(args.stop_after)] if args.stop_after else []),
           "--max-memory", args.max_memory, "--steps", str(args.steps), "--content",
           str(args.content), "--style", str(args.style), "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER):])
    raise SystemExit(f"child failed ({proc.returncode}): {proc.stderr[-2000:]}")


def seam_measure(path: Path, core: int) -> tuple[float, float]:
    """Mean squared gradient across the tile borders of the phase-0 grid over elsewhere."""
    import numpy as np
    from PIL import Image

    from impasto.optim.tiles import cut_positions

    a = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
    gx = np.diff(a, axis=1) ** 2  # gradient between column j and j+1
    gy = np.diff(a, axis=0) ** 2
    on_x = np.zeros(gx.shape[1], bool)
    on_y = np.zeros(gy.shape[0], bool)
    on_x[[c - 1 for c in cut_positions(a.shape[1], core, 0.0)[1:-1]]] = True
    on_y[[c - 1 for c in cut_positions(a.shape[0], core, 0.0)[1:-1]]] = True
    return (float(gx[:, on_x].mean() / gx[:, ~on_x].mean()),
            float(gy[on_y].mean() / gy[~on_y].mean()))


def main() -> int:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("sweep", "full", "seams"), default="sweep")
    parser.add_argument("--reference-memory", default="20GB",
                        help="budget of the untiled reference run (--mode seams)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--stop-after", type=int, default=0,
                        help="sweep: stop after this many steps at the top scale (a tiled "
                             "scale reports a step as each 1/8 of the tiles finishes)")
    parser.add_argument("--square", action="store_true",
                        help="crop the content to a square (4096 x 4096 outputs)")
    parser.add_argument("--max-memory", default="3GB")
    parser.add_argument("--data", type=Path, default=repo.parent / "shared" / "data")
    parser.add_argument("--content", type=Path, default=None)
    parser.add_argument("--style", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=repo / "bench-out" / "print")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.child:
        return child(args)
    args.content = args.content or args.data / "content" / "kodim23_parrots.jpg"
    args.style = args.style or args.data / "styles" / "starry_night.jpg"
    if not args.content.is_file() or not args.style.is_file():
        print(f"print_size.py: test data not found under {args.data}", file=sys.stderr)
        return 2
    report: dict[str, Any] = {"mode": args.mode, "max_memory": args.max_memory,
                              "content": args.content.name, "style": args.style.name,
                              "date": time.strftime("%Y-%m-%d")}
    if args.mode == "sweep":
        rows = []
        print(f"budget {args.max_memory}; {args.steps} steps at the top scale (scales=1)")
        print(f"{'size':>6} {'MP':>6} {'peak MiB':>9} {'s/step':>7} {'s/step/MP':>9} tile")
        for size in args.sizes:
            row = run_child(args, size, args.out / f"sweep_{size}.png")
            # Tiled scales report their steps as tiles finish: the mean over the scale.
            per_step = (sum(row["step_seconds"]) / len(row["step_seconds"]) if row["tile_core"]
                        else min(row["step_seconds"][1:] or row["step_seconds"]))
            row["s_per_step"] = per_step
            row["s_per_step_per_mp"] = per_step / row["megapixels"]
            rows.append(row)
            print(f"{size:>6} {row['megapixels']:6.2f} {row['peak_mib']:9.0f} {per_step:7.2f} "
                  f"{row['s_per_step_per_mp']:9.2f} {row['tile_core']}+{row['tile_margin']}",
                  flush=True)
        peaks = [r["peak_mib"] for r in rows]
        spread = max(peaks) / min(peaks) - 1
        print(f"peak spread over sizes: {spread * 100:.1f} % (goal: within 20 %)")
        # Tile model: a tiled scale keeps TILED_BYTES_PER_PIXEL of whole-picture buffers and
        # one tile's working set, planned into what the budget leaves after the process's
        # baseline; so the peak stays at the budget until the whole-picture buffers and the
        # smallest tile no longer fit, and the run is refused below that.
        from impasto.optim.tiles import MIN_TILE, TILED_BYTES_PER_PIXEL, TilePlan, tiled_bytes
        from impasto.runtime.memory import parse_memory

        budget_mib = parse_memory(args.max_memory) / 2**20
        base = max(r["baseline_mib"] for r in rows)
        projections = {}
        for side in (8192, 16384):
            mp = side * side * (1 if args.square else 2 / 3) / 1e6
            h = w = side
            if not args.square:
                h = round(side * 2 / 3 / 16) * 16
            needed = base + tiled_bytes(h, w, TilePlan(core=MIN_TILE), "bf16") / 2**20
            fits = needed <= budget_mib
            projections[side] = {"megapixels": mp, "whole_picture_mib":
                                 h * w * TILED_BYTES_PER_PIXEL / 2**20,
                                 "minimum_budget_mib": needed,
                                 "projected_peak_mib": budget_mib if fits else None}
            verdict = (f"peak about the budget ({budget_mib / 1024:.1f} GiB)" if fits else
                       f"refused at this budget: it needs at least {needed / 1024:.1f} GiB, "
                       "and then peaks at about the budget given")
            print(f"{side} px ({mp:.0f} MP): whole-picture buffers "
                  f"{projections[side]['whole_picture_mib'] / 1024:.2f} GiB; {verdict}")
        report.update(rows=rows, spread=spread, baseline_mib=base, projections=projections)
    elif args.mode == "seams":
        # The same picture made in one piece and in tiles; the seam measure on the tiled grid's
        # lines for both, so the picture's own edges cancel out.
        budget = args.max_memory
        args.max_memory = args.reference_memory
        ref = run_child(args, args.size, args.out / f"seams_{args.size}_untiled.png")
        args.max_memory = budget
        tiled = run_child(args, args.size, args.out / f"seams_{args.size}_tiled.png")
        if not tiled["tile_core"] or ref["tile_core"]:
            raise SystemExit("the reference must fit in one piece and the other run be tiled")
        core = tiled["tile_core"]
        rx, ry = seam_measure(Path(ref["output"]), core)
        tx, ty = seam_measure(Path(tiled["output"]), core)
        import numpy as np
        from PIL import Image

        a = np.asarray(Image.open(ref["output"]), dtype=np.float64)
        b = np.asarray(Image.open(tiled["output"]), dtype=np.float64)
        h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])  # tiled: multiples of 16
        a, b = a[:h, :w], b[:h, :w]
        print(f"{args.size} px: untiled {ref['seconds']:.0f} s, peak {ref['peak_mib']:.0f} MiB; "
              f"tiled ({core}+{tiled['tile_margin']}) {tiled['seconds']:.0f} s, peak "
              f"{tiled['peak_mib']:.0f} MiB")
        print(f"seam measure on the tile grid's lines: untiled {rx:.3f} / {ry:.3f}, tiled "
              f"{tx:.3f} / {ty:.3f} (columns / rows); tiled over untiled {tx / rx:.3f} / "
              f"{ty / ry:.3f}")
        print(f"mean absolute difference between the two pictures: {np.abs(a - b).mean():.2f} "
              "grey levels")
        report.update(untiled=ref, tiled=tiled, seam_untiled=[rx, ry], seam_tiled=[tx, ty],
                      seam_ratio=[tx / rx, ty / ry], mean_abs_diff=float(np.abs(a - b).mean()))
    else:
        row = run_child(args, args.size, args.out / f"full_{args.size}.png")
        print(f"{args.size} px ({row['width']}x{row['height']}): {row['seconds']:.0f} s, "
              f"peak {row['peak_mib'] / 1024:.2f} GiB, tile {row['tile_core']}+"
              f"{row['tile_margin']}")
        if row["tile_core"]:
            sx, sy = seam_measure(Path(row["output"]), row["tile_core"])
            row["seam_x"], row["seam_y"] = sx, sy
            print(f"seam measure (gradient energy on tile borders / elsewhere): "
                  f"columns {sx:.3f}, rows {sy:.3f}")
            from PIL import Image

            from impasto.optim.tiles import cut_positions

            img = Image.open(row["output"])
            c = row["tile_core"]
            cx = cut_positions(img.width, c, 0.0)[2]
            cy = cut_positions(img.height, c, 0.0)[1]
            cx, cy = min(max(cx, 256), img.width - 256), min(max(cy, 256), img.height - 256)
            crop = img.crop((cx - 256, cy - 256, cx + 256, cy + 256))
            dest = repo / "docs" / "images" / "tile_border_crop.jpg"
            crop.convert("RGB").save(dest, quality=90)
            print(f"crop around the tile-grid crossing ({cx}, {cy}): {dest}")
        report.update(row=row)
    if args.json:
        report.update(benchmark="print_size",
                      command=" ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
                      machine=machine_info(), versions=package_versions())
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
