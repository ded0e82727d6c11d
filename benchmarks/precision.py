"""bf16 autocast against fp32: time and quality of the default preset on real pairs.

Runs impasto's default preset (512 px, 300 steps, 3 scales) on each pair twice, once with the
network in fp32 and once under bf16 autocast, and scores both with ``impasto score``. The claim it
checks: bf16 is faster at equal quality (style and content distances within a few percent).

    python benchmarks/precision.py [--pairs 2] [--size 512] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

import impasto
from _common import run_header, write_json

PAIRS = [
    ("kodim23_parrots.jpg", "starry_night.jpg"),
    ("kodim04_girl_red_hat.jpg", "the_scream.jpg"),
    ("kodim21_lighthouse_coast.jpg", "great_wave_off_kanagawa.jpg"),
]


def main() -> int:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=repo.parent / "shared" / "data")
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--out", type=Path, default=repo / "bench-out" / "precision")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not (args.data / "content").is_dir():
        print(f"precision.py: test data not found under {args.data}", file=sys.stderr)
        return 2
    stylizer = impasto.Stylizer("cpu")
    rows = []
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, size {args.size}")
    print(f"{'pair':44} {'prec':5} {'seconds':>8} {'style':>7} {'content':>8} {'ssim':>6}")
    for content_name, style_name in PAIRS[: args.pairs]:
        content = args.data / "content" / content_name
        style = args.data / "styles" / style_name
        for precision in ("fp32", "bf16"):
            started = time.perf_counter()
            result = stylizer.stylize(content, style, size=args.size, seed=0,
                                      precision=precision)
            seconds = time.perf_counter() - started
            out = args.out / f"{Path(content_name).stem}__{Path(style_name).stem}_{precision}.png"
            result.save(out)
            scores = impasto.score(content, style, out)
            row = {"content": content_name, "style": style_name, "precision": precision,
                   "seconds": round(seconds, 2), **scores.to_dict()}
            rows.append(row)
            print(f"{content_name + ' + ' + style_name:44} {precision:5} {seconds:8.1f} "
                  f"{scores.style_distance:7.4f} {scores.content_distance:8.4f} "
                  f"{scores.ssim:6.3f}", flush=True)
    means = {}
    for precision in ("fp32", "bf16"):
        sel = [r for r in rows if r["precision"] == precision]
        means[precision] = {k: sum(r[k] for r in sel) / len(sel)
                            for k in ("seconds", "style_distance", "content_distance", "ssim")}
        print(f"mean {precision}: " + ", ".join(f"{k} {v:.4f}"
                                               for k, v in means[precision].items()))
    write_json(args.json, {
        **run_header("precision"),
        "settings": {"pairs": args.pairs, "size": args.size},
        "rows": rows,
        "means": means,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
