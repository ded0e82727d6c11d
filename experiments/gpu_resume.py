"""Resume per-style training runs on a GPU from their checkpoints, several at once.

    python experiments/gpu_resume.py --data DATA --runs RUNS --out OUT --limit SECONDS
        [--job NAME=SOURCE[:STYLE_WEIGHT]] ...

RUNS holds model folders with their checkpoints, as ``experiments/gpu_session.py`` returns them
(``NAME.tgz`` unpacked); DATA is that script's data folder (``photos/``, ``styles/``). Each
job copies RUNS/SOURCE to a work folder and resumes it (``impasto train --resume``) for
SECONDS, at another style weight where one is given (a branch); the style picture is the one
the run was trained on, looked up by name in DATA/styles. The jobs share the GPU as
subprocesses; the model folders (without their checkpoints) come back as ``OUT/resumed.tgz``.
The default jobs are the second call of experiments/NOTES.md, "A second session (H200)".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

DEFAULT_JOBS = ("starry-finetune=starry-finetune", "starry-wide=starry-wide",
                "starry-distance=starry-distance", "wave-finetune2=wave-finetune2",
                "starry-finetune-sw4=starry-finetune:4", "wave-finetune1=wave-finetune2:1")


def parse_job(text: str) -> tuple[str, str, float | None]:
    """``NAME=SOURCE[:STYLE_WEIGHT]``; ValueError when it is not that."""
    name, _, rest = text.partition("=")
    source, _, weight = rest.partition(":")
    if not name or not source:
        raise ValueError(f"--job {text!r}: expected NAME=SOURCE[:STYLE_WEIGHT]")
    try:
        return name, source, float(weight) if weight else None
    except ValueError:
        raise ValueError(f"--job {text!r}: the style weight is not a number") from None


def worker(args: argparse.Namespace, name: str, weight: float | None) -> None:
    import torch

    from impasto.config import TrainConfig
    from impasto.training.trainer import train

    torch.set_num_threads(2)
    folder = args.work / name
    record = json.loads((folder / "checkpoint.json").read_text())
    cfg = {**record["config"], "init": None}  # the checkpoint holds the weights
    if weight is not None:
        cfg["style_weight"] = weight
    style = args.data / "styles" / json.loads((folder / "config.json").read_text())["style"]["file"]

    def log(event: Any) -> None:
        if event.step % 500 == 0:
            losses = " ".join(f"{k} {v:.4f}" for k, v in event.losses.items())
            print(f"{name} step {event.step} {losses} {event.step_seconds * 1000:.1f} ms/step",
                  flush=True)

    result = train(style, args.data / "photos", folder, TrainConfig(**cfg), device=args.device,
                   callback=log, time_limit=args.limit, name=name, resume=True)
    print(f"{name} done: {result.steps} steps {result.losses}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--runs", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--limit", type=float, required=True, help="Seconds of training per job.")
    ap.add_argument("--job", action="append", help="NAME=SOURCE[:STYLE_WEIGHT]")
    ap.add_argument("--work", type=Path, default=Path("/tmp/impasto-gpu-resume"))
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    try:
        jobs = [parse_job(j) for j in (args.job or DEFAULT_JOBS)]
    except ValueError as exc:
        ap.error(str(exc))
    if args.worker:
        worker(args, args.worker, {n: w for n, _, w in jobs}[args.worker])
        return 0
    missing = [s for _, s, _ in jobs if not (args.runs / s / "checkpoint.json").is_file()]
    if missing:
        print(f"no checkpoint in {', '.join(str(args.runs / s) for s in missing)}", flush=True)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    procs = {}
    for name, source, _ in jobs:
        shutil.copytree(args.runs / source, args.work / name, dirs_exist_ok=True)
        log = (args.work / name / "resume.log").open("w")
        procs[name] = subprocess.Popen(
            [sys.executable, __file__, *sys.argv[1:], "--worker", name], stdout=log,
            stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "2"})
    failed = []
    for name, proc in procs.items():
        code = proc.wait()
        tail = (args.work / name / "resume.log").read_text().strip().splitlines()[-1:]
        print(f"{name}: exit {code} {' '.join(tail)}", flush=True)
        if code:
            failed.append(name)
    with tarfile.open(args.out / "resumed.tgz", "w:gz") as tar:
        for name, _, _ in jobs:
            for item in sorted((args.work / name).iterdir()):
                if item.is_file() and not item.name.startswith("checkpoint."):
                    tar.add(item, arcname=f"{name}/{item.name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
