"""``impasto serve`` under load and under faults, as real processes on this machine.

``--mode load``: one service (``--workers`` worker processes), ``--clients`` concurrent clients
(each with its own API key, so each has its own rate limit) submitting ``--jobs`` jobs in all
(instant AdaIN jobs at 64 px, after one first job); meanwhile a poller, a process of its own,
asks for the first job's status every 20 ms and times each answer, from before the clients
start until every job is finished. Counts: accepted (202), refused (429/503), anything else;
whether every accepted job finished (none lost); status latency percentiles while jobs ran;
throughput.

``--mode faults``: ``--trials`` rounds; in each, a few jobs are submitted (optimisations and
instant jobs at tiny sizes), and at a random moment one worker or the whole service (the web
process and its workers) is killed with SIGKILL; a killed service is started again on the same
data folder. At the end every accepted job must be done or failed with a reason: none lost, none
finished twice (its ``done`` event counted), no result file left half-written.

    python benchmarks/serve.py --mode load --json docs/results/serve_load.json
    python benchmarks/serve.py --mode faults --trials 20 --json docs/results/serve_faults.json
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import run_header, table, write_json
from impasto.serve.service import free_port, wait_until_up

ADAIN = {"encoder": "student-relu4_1", "size": 64}


def _photo() -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:96, 0:128] / 128
    img = np.stack([np.sin(xx * 9), np.cos(yy * 7), np.sin((xx + yy) * 5)], -1) * 0.5 + 0.5
    img = (img * 255 + rng.normal(0, 4, img.shape)).clip(0, 255).astype("uint8")
    buffer = io.BytesIO()
    Image.fromarray(img).save(buffer, "PNG")
    return buffer.getvalue()


class Service:
    """``impasto serve`` as a process group (the web process and its workers)."""

    def __init__(self, data: Path, workers: int, keys: list[str], lease: float) -> None:
        self.data, self.workers, self.keys, self.lease = data, workers, keys, lease
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "IMPASTO_SERVE_LEASE": str(self.lease),
               "IMPASTO_API_KEYS": ",".join(self.keys)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "impasto", "serve", "--port", str(self.port), "--data-dir",
             str(self.data), "--workers", str(self.workers), "--device", "cpu"],
            env=env, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_until_up(self.base, self.headers(0))

    def headers(self, i: int) -> dict[str, str]:
        return {"X-API-Key": self.keys[i % len(self.keys)]} if self.keys else {}

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def submit(service: Service, client: Any, i: int, method: str, options: dict[str, Any],
           photo: bytes) -> Any:
    return client.post(f"{service.base}/api/jobs", headers=service.headers(i), data={
        "method": method, "style_id": ["starry-night"], "options": json.dumps(options)},
        files={"content": ("photo.png", photo, "image/png")}, timeout=60)


def wait_all(service: Service, ids: dict[str, int], timeout: float) -> dict[str, str]:
    import httpx2 as httpx

    final: dict[str, str] = {}
    deadline = time.time() + timeout
    while time.time() < deadline and len(final) < len(ids):
        for job_id, i in ids.items():
            if job_id in final:
                continue
            try:
                state = httpx.get(f"{service.base}/api/jobs/{job_id}",
                                  headers=service.headers(i), timeout=30).json()
            except httpx.HTTPError:
                continue
            if state["status"] in ("done", "failed", "cancelled"):
                final[job_id] = state["status"]
        time.sleep(0.5)
    return final


def poll_status(base: str, job_id: str, headers: dict[str, str], go: Any, stop: Any,
                out: Any) -> None:
    """From ``go`` to ``stop``, ask for one job's status every 20 ms; put the milliseconds
    each answer took on ``out``."""
    import httpx2 as httpx

    latencies: list[float] = []
    with httpx.Client() as client:
        client.get(f"{base}/api/jobs/{job_id}", headers=headers)  # the connection made
        go.wait()
        while not stop.is_set():
            started = time.perf_counter()
            client.get(f"{base}/api/jobs/{job_id}", headers=headers)
            latencies.append(1000 * (time.perf_counter() - started))
            time.sleep(0.02)
    out.put(latencies)


def load_mode(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import httpx2 as httpx

    keys = [f"key-{i}" for i in range(args.clients)]
    service = Service(work / "serve", args.workers, keys, lease=15)
    service.start()
    photo = _photo()
    codes: dict[int, int] = {}
    accepted: dict[str, int] = {}
    lock = threading.Lock()

    def client_loop(i: int) -> None:
        with httpx.Client() as client:
            for _ in range(args.jobs // args.clients):
                answer = submit(service, client, i, "adain", ADAIN, photo)
                with lock:
                    codes[answer.status_code] = codes.get(answer.status_code, 0) + 1
                    if answer.status_code == 202:
                        accepted[answer.json()["id"]] = i

    # The status poller is a process of its own: the clients' threads must not delay it.
    with httpx.Client() as client:
        first = submit(service, client, 0, "adain", ADAIN, photo)
    codes[first.status_code] = 1
    accepted[first.json()["id"]] = 0
    context = multiprocessing.get_context("spawn")
    go, stop, out = context.Event(), context.Event(), context.Queue()
    poller = context.Process(target=poll_status, args=(
        service.base, first.json()["id"], service.headers(0), go, stop, out))
    poller.start()
    time.sleep(2.0)  # the poller's start-up is not part of the load
    go.set()
    started = time.perf_counter()
    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    submitted = time.perf_counter() - started
    final = wait_all(service, accepted, timeout=args.timeout)
    finished = time.perf_counter() - started
    stop.set()
    latencies = out.get(timeout=60)
    poller.join(timeout=10)
    service.stop()
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 2 else [0] * 99
    done = sum(1 for s in final.values() if s == "done")
    return {"clients": args.clients, "workers": args.workers, "submitted": args.jobs + 1,
            "answers": {str(k): v for k, v in sorted(codes.items())},
            "accepted": len(accepted), "finished": len(final), "done": done,
            "lost": len(accepted) - len(final),
            "other_answers": sum(v for k, v in codes.items() if k not in (202, 429, 503)),
            "seconds_to_submit": round(submitted, 2),
            "seconds_to_finish": round(finished, 2),
            "jobs_per_second": round(done / finished, 2) if finished else None,
            "status_requests": len(latencies),
            "status_ms": {"p50": round(quantiles[49], 2), "p95": round(quantiles[94], 2),
                          "p99": round(quantiles[98], 2), "max": round(max(latencies), 2)
                          if latencies else None},
            "goal_p99_ms": 50.0}


def faults_mode(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import httpx2 as httpx

    rng = random.Random(args.seed)
    service = Service(work / "serve", args.workers, [], lease=2)
    service.start()
    photo = _photo()
    accepted: dict[str, int] = {}
    kills = {"worker": 0, "service": 0}
    for trial in range(args.trials):
        with httpx.Client() as client:
            for i in range(2):
                answer = submit(service, client, i, "optimize",
                                {"size": 48, "iterations": 40, "scales": 1}, photo)
                if answer.status_code == 202:
                    accepted[answer.json()["id"]] = i
            answer = submit(service, client, 2, "adain", ADAIN, photo)
            if answer.status_code == 202:
                accepted[answer.json()["id"]] = 2
        time.sleep(rng.uniform(0.2, 4.0))
        if rng.random() < 0.5:
            pids = httpx.get(f"{service.base}/api/health").json()["worker_pids"] or []
            if pids:
                os.kill(rng.choice(pids), signal.SIGKILL)
                kills["worker"] += 1
        else:
            service.kill()
            kills["service"] += 1
            service.start()
        print(f"trial {trial + 1}: {kills}", flush=True)
    final = wait_all(service, accepted, timeout=args.timeout)
    service.stop()
    db = sqlite3.connect(str(work / "serve" / "jobs.sqlite3"))
    done_events = dict(db.execute("SELECT job_id, COUNT(*) FROM events WHERE kind = 'done' "
                                  "GROUP BY job_id").fetchall())
    failed = db.execute("SELECT id, error FROM jobs WHERE status = 'failed'").fetchall()
    attempts = [r[0] for r in db.execute("SELECT attempts FROM jobs")]
    db.close()
    results = work / "serve" / "results"
    partial = [p.name for p in results.iterdir() if not p.name.endswith(".png")]
    unreadable = 0
    from PIL import Image

    for path in results.glob("*.png"):
        try:
            with Image.open(path) as img:
                img.load()
        except Exception:
            unreadable += 1
    return {"trials": args.trials, "kills": kills, "workers": args.workers,
            "accepted": len(accepted), "finished": len(final),
            "lost": len(accepted) - len(final),
            "done": sum(1 for s in final.values() if s == "done"),
            "failed": len(failed), "failed_without_reason": sum(1 for _, e in failed if not e),
            "failure_reasons": sorted({e for _, e in failed})[:5],
            "finished_twice": sum(1 for n in done_events.values() if n > 1),
            "max_attempts_seen": max(attempts) if attempts else 0,
            "partial_files": partial, "unreadable_results": unreadable}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("load", "faults"), required=True)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    header = run_header("serve")
    with tempfile.TemporaryDirectory(prefix="impasto-serve-") as tmp:
        body = (load_mode if args.mode == "load" else faults_mode)(args, Path(tmp))
    print(table(["measure", "value"], [[k, json.dumps(v)] for k, v in body.items()]))
    write_json(args.json, {**header, "mode": args.mode, **body})


if __name__ == "__main__":
    main()
