"""Picture quality of impasto's default preset against pastiche given the same time, on K pairs.

For each of ``--pairs K`` content/style pairs (default 5, fixed list in ``_common.DEFAULT_PAIRS``:
kodim23_parrots+starry_night, kodim04_girl_red_hat+the_scream,
kodim21_lighthouse_coast+great_wave_off_kanagawa, chelsea_cat+composition_vii,
kodim08_timbered_houses+water_lilies_1919; with ``--split validation``, the first K pairs of
``_common.validation_pairs`` instead, disjoint from the benchmark pairs, for choosing settings):

1. **impasto**, default preset: ``impasto.Stylizer("cpu").stylize(content, style, size=512,
   seed=0)`` (300 L-BFGS steps over the automatic coarse-to-fine pyramid, precision ``auto``).
   The wall time of that call is recorded; the network is loaded, and one tiny run made,
   before the first pair, so no pair pays for one-off set-up: impasto's start-up (imports,
   weights, that first run) is timed apart (``impasto_startup`` in the JSON) and is *not* in
   its per-pair wall time, while pastiche's wall time (a fresh CLI process) includes its own.
2. **pastiche**, its CLI in a child process (``python -m pastiche --device cpu --size 512
   --seed 0 --no-verbose``, every other option at its default: L-BFGS, content weight 1, the same
   VGG-19 layers), with a step count that gives it impasto's time for that pair. pastiche's
   seconds per step are measured first, once per content shape: the median of
   ``--calibrate-steps`` (default 3) calls of ``PasticheArtist.draw()`` after one warm-up, on the
   artist its ``main()`` builds, in this process (one CLI step is one ``draw()``). Its fixed
   start-up (interpreter, import, weight decoding, style/content targets, PNG output) is the
   wall time of a 1-step CLI run minus one step. Then
   ``steps = max(1, round(budget / sec_per_step))``
   with ``budget`` = impasto's wall time (``--pastiche-budget optimisation``, the default:
   pastiche's optimisation alone gets as long as impasto's whole call, so its start-up comes on
   top) or impasto's wall time minus pastiche's start-up (``--pastiche-budget wall``: equal wall
   time). Its actual wall time is recorded.
3. Both outputs are scored with ``impasto.score(content, style, output)``: style distance,
   content distance, SSIM to the content and colour distance to the style (see
   :mod:`impasto.metrics.scores`; lower distances are closer, higher SSIM keeps more structure).

Outputs go to ``--out`` (default ``bench-out/quality/``, git-ignored); the contact sheet (rows =
pairs, columns = content | style | pastiche | impasto, cells 192 px high, JPEG quality 88) to
``--sheet`` (default ``docs/images/contact_sheet.jpg``; with ``--split validation``,
``OUT/contact_sheet_validation.jpg``).

Run from the repository root (with the venv active)::

    python benchmarks/quality.py --json bench-out/quality.json

Options: ``--pairs 5 --split benchmark --size 512 --out bench-out/quality
--sheet docs/images/contact_sheet.jpg --pastiche-budget optimisation --calibrate-steps 3
--threads N --data PATH``;
``--iterations N`` overrides impasto's 300 steps (smoke tests only: not the default preset).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from _common import (
    REPO_ROOT,
    add_split_argument,
    data_dir,
    pair_name,
    pastiche_artist,
    run_header,
    split_pairs,
    table,
    write_json,
)

SCORE_KEYS = ("style_distance", "content_distance", "ssim", "color_distance")
SHEET_COLUMNS = ("content", "style", "pastiche", "impasto")
CELL_HEIGHT = 192
SHEET_QUALITY = 88
SHEET_LIMIT_BYTES = 1_500_000


# ------------------------------------------------------------------------------------ pastiche


def pastiche_env(threads: int | None) -> dict[str, str]:
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


def run_pastiche(content: Path, style: Path, output: Path, size: int, steps: int,
                 env: dict[str, str]) -> float:
    """Run the pastiche CLI in a child process; return its wall time in seconds."""
    cmd = [sys.executable, "-m", "pastiche", "--device", "cpu", "--seed", "0", "--no-verbose",
           "--size", str(size), "--num-steps", str(steps), "--content", str(content),
           "--styles", str(style), "--output", str(output)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"error: pastiche failed (exit {proc.returncode}): {' '.join(cmd)}\n"
                 f"{proc.stderr.strip()}")
    return seconds


def calibrate(content: Path, style: Path, folder: Path, size: int, steps: int,
              env: dict[str, str]) -> dict[str, Any]:
    """pastiche's seconds per step and its fixed start-up at this content's shape.

    Seconds per step: the median of ``steps`` calls of ``PasticheArtist.draw()`` (one step of its
    CLI loop) after one warm-up, in this process, on the artist its ``main()`` builds. Start-up:
    the wall time of one CLI run of 1 step, minus one step.
    """
    artist = pastiche_artist(content, style, size)
    artist.draw()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        artist.draw()
        times.append(time.perf_counter() - start)
    height, width = artist.content_size
    del artist
    per_step = statistics.median(times)
    folder.mkdir(parents=True, exist_ok=True)
    one_step = run_pastiche(content, style, folder / f"{content.stem}_1.png", size, 1, env)
    return {"step_times_s": times, "sec_per_step": per_step, "one_step_wall_s": one_step,
            "startup_s": max(0.0, one_step - per_step), "width": int(width),
            "height": int(height)}


# -------------------------------------------------------------------------------- contact sheet


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # old Pillow or no FreeType: the bitmap font
        return ImageFont.load_default()


def contact_sheet(rows: list[list[Path]], path: Path, *, cell_height: int = CELL_HEIGHT,
                  quality: int = SHEET_QUALITY) -> int:
    """Rows of pictures (each scaled to ``cell_height``) under column labels; return its bytes."""
    gap, header = 6, 28
    cells: list[list[Image.Image]] = []
    for row in rows:
        scaled = []
        for src in row:
            with Image.open(src) as im:
                im = im.convert("RGB")
                width = max(1, round(im.width * cell_height / im.height))
                scaled.append(im.resize((width, cell_height), Image.Resampling.LANCZOS))
        cells.append(scaled)
    widths = [max(r[i].width for r in cells) for i in range(len(SHEET_COLUMNS))]
    sheet = Image.new("RGB", (sum(widths) + gap * (len(widths) + 1),
                              header + (cell_height + gap) * len(cells)), "white")
    draw = ImageDraw.Draw(sheet)
    font = _font(18)
    x = gap
    for label, width in zip(SHEET_COLUMNS, widths, strict=True):
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        draw.text((x + (width - (right - left)) // 2, (header - (bottom - top)) // 2 - top),
                  label, fill="black", font=font)
        x += width + gap
    for r, row in enumerate(cells):
        x, y = gap, header + r * (cell_height + gap)
        for cell, width in zip(row, widths, strict=True):
            sheet.paste(cell, (x + (width - cell.width) // 2, y))
            x += width + gap
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, "JPEG", quality=quality, optimize=True)
    return path.stat().st_size


# ------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    p.add_argument("--data", help="folder with content/ and styles/ (default ../shared/data)")
    p.add_argument("--pairs", type=int, default=5, help="number of content/style pairs")
    add_split_argument(p)
    p.add_argument("--size", type=int, default=512, help="long side of the outputs in px")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "bench-out" / "quality",
                   help="folder for the outputs (default bench-out/quality/)")
    p.add_argument("--sheet", type=Path, default=None,
                   help="contact sheet path (default docs/images/contact_sheet.jpg; with "
                        "--split validation, OUT/contact_sheet_validation.jpg)")
    p.add_argument("--pastiche-budget", choices=["optimisation", "wall"], default="optimisation",
                   help="optimisation: pastiche's steps take impasto's wall time (start-up on "
                        "top); wall: minus pastiche's start-up, so the wall times match")
    p.add_argument("--calibrate-steps", type=int, default=3,
                   help="pastiche steps timed (after 1 warm-up) to get its seconds per step")
    p.add_argument("--iterations", type=int,
                   help="override impasto's step count (smoke tests only; default preset: 300)")
    p.add_argument("--threads", type=int, help="torch threads for both tools")
    p.add_argument("--json", metavar="PATH", help="write all figures to this JSON file")
    args = p.parse_args(argv)
    if args.calibrate_steps < 1:
        p.error("--calibrate-steps must be at least 1")
    if args.sheet is None:
        args.sheet = (REPO_ROOT / "docs" / "images" / "contact_sheet.jpg"
                      if args.split == "benchmark" else args.out / "contact_sheet_validation.jpg")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = data_dir(args.data)
    chosen = split_pairs(root, args.split, args.pairs)

    # impasto's own start-up (torch and impasto imported, VGG-19's weights decoded), timed so
    # that it can be set against pastiche's start-up, which its CLI's wall time includes.
    started = time.perf_counter()
    import torch

    import impasto
    from impasto.config import TransferConfig
    from impasto.optim.pyramid import scale_sides
    from impasto.pipeline.engines import PADDING_FOR_WRAP

    if args.threads:
        torch.set_num_threads(args.threads)
    env = pastiche_env(args.threads)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    stylizer = impasto.Stylizer("cpu")
    defaults = TransferConfig()
    # Load VGG-19 once, outside the pairs' timings (the network the optimiser's runs reuse).
    stylizer.pipeline.optimize.network(
        list(defaults.content_layers) + list(defaults.style_layers), defaults.pooling,
        PADDING_FOR_WRAP[defaults.wrap], stylizer.pipeline.runtime("optimize", defaults))
    impasto_startup = {"import_and_weights_s": time.perf_counter() - started}
    # One tiny run first, outside the pairs' timings: the first call in a process pays one-off
    # kernel set-up (oneDNN, autocast) that would otherwise land on the first pair's time only.
    started = time.perf_counter()
    stylizer.stylize(chosen[0][0], chosen[0][1], size=64, iterations=2, scales=1, seed=0)
    impasto_startup["warmup_run_s"] = time.perf_counter() - started
    options: dict[str, Any] = {"size": args.size, "seed": 0}
    if args.iterations is not None:
        options["iterations"] = args.iterations
        print(f"note: impasto runs {args.iterations} steps, not its default preset", flush=True)

    calibrations: dict[tuple[int, int], dict[str, Any]] = {}
    records: list[dict[str, Any]] = []
    for content, style in chosen:
        name = pair_name(content, style)
        print(f"[{name}] impasto ...", flush=True)
        start = time.perf_counter()
        result = stylizer.stylize(content, style, **options)
        impasto_s = time.perf_counter() - start
        impasto_png = out / f"{name}_impasto.png"
        result.save(impasto_png)

        with Image.open(content) as im:
            key = im.size
        if key not in calibrations:
            print(f"[{name}] pastiche timing ({key[0]}x{key[1]} content) ...", flush=True)
            calibrations[key] = calibrate(content, style, out / "calibration", args.size,
                                          args.calibrate_steps, env)
        cal = calibrations[key]
        budget = impasto_s - (cal["startup_s"] if args.pastiche_budget == "wall" else 0.0)
        steps = max(1, round(budget / cal["sec_per_step"]))
        print(f"[{name}] pastiche {steps} steps ({cal['sec_per_step']:.3f} s/step, "
              f"budget {budget:.1f} s) ...", flush=True)
        pastiche_png = out / f"{name}_pastiche.png"
        pastiche_s = run_pastiche(content, style, pastiche_png, args.size, steps, env)

        scores = {tool: impasto.score(content, style, png).to_dict()
                  for tool, png in (("pastiche", pastiche_png), ("impasto", impasto_png))}
        records.append({
            "pair": name, "content": content.name, "style": style.name,
            "impasto": {
                "wall_s": impasto_s, "reported_s": result.seconds,
                "precision": result.precision, "iterations": result.config.iterations,
                "scale_sides": scale_sides(args.size, result.config.scales),
                "size": list(result.image.size), "output": str(impasto_png),
                "scores": scores["impasto"],
            },
            "pastiche": {
                "wall_s": pastiche_s, "steps": steps, "budget_s": budget,
                "sec_per_step": cal["sec_per_step"], "startup_s": cal["startup_s"],
                "optimisation_s_est": steps * cal["sec_per_step"],
                "size": [cal["width"], cal["height"]], "output": str(pastiche_png),
                "scores": scores["pastiche"],
            },
        })

    rows: list[list[Any]] = []
    for rec in records:
        for tool in ("pastiche", "impasto"):
            r = rec[tool]
            steps = r["steps"] if tool == "pastiche" else r["iterations"]
            rows.append([rec["pair"], tool, r["wall_s"], steps,
                         *(r["scores"][k] for k in SCORE_KEYS)])
    means: dict[str, dict[str, float]] = {}
    for tool in ("pastiche", "impasto"):
        means[tool] = {"wall_s": statistics.mean(rec[tool]["wall_s"] for rec in records)}
        for k in SCORE_KEYS:
            means[tool][k] = statistics.mean(rec[tool]["scores"][k] for rec in records)
        rows.append([f"mean of {len(records)}", tool, means[tool]["wall_s"], None,
                     *(means[tool][k] for k in SCORE_KEYS)])
    print()
    print(f"{args.size} px; pastiche budget: {args.pastiche_budget}; distances: lower = closer; "
          "ssim: higher = more content structure kept")
    print(table(["pair", "tool", "wall s", "steps", "style d", "content d", "ssim", "color d"],
                rows))
    for key, cal in calibrations.items():
        print(f"pastiche at {cal['width']}x{cal['height']} (content {key[0]}x{key[1]}): "
              f"{cal['sec_per_step']:.3f} s/step, start-up {cal['startup_s']:.1f} s")
    print(f"impasto start-up, not in its wall s: imports and weights "
          f"{impasto_startup['import_and_weights_s']:.1f} s, first-call set-up "
          f"{impasto_startup['warmup_run_s']:.1f} s (pastiche's wall s includes its start-up)")

    sheet: Path = args.sheet
    size_bytes = contact_sheet(
        [[root / "content" / rec["content"], root / "styles" / rec["style"],
          Path(rec["pastiche"]["output"]), Path(rec["impasto"]["output"])] for rec in records],
        sheet,
    )
    print(f"contact sheet: {sheet} ({size_bytes / 1e6:.2f} MB)")
    if size_bytes > SHEET_LIMIT_BYTES:
        print(f"warning: the contact sheet is over {SHEET_LIMIT_BYTES / 1e6:.1f} MB")

    write_json(args.json, {
        **run_header("quality"),
        "settings": {
            "pairs": args.pairs, "split": args.split, "size": args.size,
            "pastiche_budget": args.pastiche_budget,
            "calibrate_steps": args.calibrate_steps, "impasto_iterations": args.iterations,
            "threads": args.threads, "out": str(out), "sheet": str(sheet),
        },
        "pastiche_calibration": [{"content_size": list(k), **v} for k, v in calibrations.items()],
        # Not in impasto's per-pair wall_s; pastiche's wall_s includes its start-up (startup_s).
        "impasto_startup": impasto_startup,
        "pairs": records,
        "means": means,
        "sheet_bytes": size_bytes,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
