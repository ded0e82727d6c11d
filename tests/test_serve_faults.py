"""``impasto serve``'s durability: leases and retries in the store, a result written before
its worker died, a real service (uvicorn and worker processes) whose worker and then whole
self are killed mid-job, bad settings refused before starting, Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx2")

from impasto.serve.files import DataDir
from impasto.serve.service import free_port, wait_until_up
from impasto.serve.store import Store
from impasto.serve.worker import work_on
from tests.serving import PHOTO, QUICK, make, submit


def test_a_dead_workers_job_is_claimed_again_then_failed_with_the_reason(
        tmp_path: Path) -> None:
    data = DataDir(tmp_path).create()
    store = Store(data.db, max_attempts=2)
    job, _ = store.submit("adain", {"styles": []}, idempotency_key=None, client=None)
    first = store.claim("w1", ("quick",), lease=0.05)
    assert first is not None and first.attempts == 1
    assert store.claim("w2", ("quick",), lease=0.05) is None  # w1 holds it
    time.sleep(0.1)  # w1 died: its lease runs out
    second = store.claim("w2", ("quick",), lease=0.05)
    assert second is not None and second.id == job.id and second.attempts == 2
    assert not store.finish(job.id, "w1", result="x", error=None)  # w1 lost it
    time.sleep(0.1)
    assert store.claim("w3", ("quick",), lease=0.05) is None
    failed = store.get(job.id)
    assert failed is not None and failed.status == "failed" and "2 times" in failed.error
    assert store.claim("w3", ("slow",), lease=1) is None


def test_a_result_written_before_the_worker_died_is_not_made_again(tmp_path: Path) -> None:
    client, data = make(tmp_path)
    job = submit(client).json()
    store = Store(data.db)
    claimed = store.claim("w1", ("quick",), 30.0)
    assert claimed is not None
    data.result(job["id"]).write_bytes(PHOTO)  # the first attempt saved, then died

    class Boom:
        def render(self, *args: Any, **kwargs: Any) -> None:
            raise AssertionError("rendered twice")

    work_on(claimed, store, Boom(), data, "w1")
    assert client.get(f"/api/jobs/{job['id']}").json()["status"] == "done"


# ------------------------------------------------------------------- a real service


def test_a_real_service_survives_a_killed_worker_and_a_killed_service(tmp_path: Path) -> None:
    import httpx2 as httpx

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "IMPASTO_SERVE_LEASE": "2"}

    def start() -> subprocess.Popen[bytes]:
        server = subprocess.Popen([sys.executable, "-m", "impasto", "serve", "--port",
                                   str(port), "--data-dir", str(tmp_path / "serve"),
                                   "--workers", "1", "--device", "cpu"], env=env,
                                  start_new_session=True)
        wait_until_up(base)
        return server

    def post(method: str, options: dict[str, Any]) -> str:
        return str(httpx.post(f"{base}/api/jobs", data={
            "method": method, "style_id": ["starry-night"], "options": json.dumps(options)},
            files={"content": ("p.png", PHOTO, "image/png")}).json()["id"])

    def final(job_id: str) -> dict[str, Any]:
        for _ in range(1200):
            state = httpx.get(f"{base}/api/jobs/{job_id}").json()
            if state["status"] in ("done", "failed"):
                return dict(state)
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} did not finish")

    slow = {"size": 40, "iterations": 60, "scales": 1}
    server = start()
    try:
        job = post("optimize", slow)
        for _ in range(600):
            state = httpx.get(f"{base}/api/jobs/{job}").json()
            if state["status"] == "running" and state["progress"] > 0:
                break
            time.sleep(0.1)
        victims = httpx.get(f"{base}/api/health").json()["worker_pids"]
        assert len(victims) == 1
        os.kill(victims[0], signal.SIGKILL)
        assert httpx.get(f"{base}/api/health").json()["status"] == "ok"  # the API lives on
        state = final(job)
        assert state["status"] == "done" and state["attempts"] >= 2, state
        assert httpx.get(f"{base}/api/jobs/{job}/result").status_code == 200
        # The whole service killed (web process and worker at once), then started again: every
        # job it had accepted is done, none lost.
        accepted = [post("optimize", slow), post("adain", QUICK), post("adain", QUICK)]
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        server = start()
        assert [final(j)["status"] for j in accepted] == ["done"] * 3
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)

def test_serve_refuses_bad_settings_before_starting(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from tests.test_cli import assert_one_line_error, run

    data = ["--data-dir", tmp_path / "serve"]
    code, _, err = run(capsys, "serve", "--host", "0.0.0.0", *data)
    assert_one_line_error(code, err, "--api-key")
    code, _, err = run(capsys, "serve", "--workers", "0", *data)
    assert_one_line_error(code, err, "--workers")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code, _, err = run(capsys, "serve", "--port", str(taken.getsockname()[1]), *data)
    assert_one_line_error(code, err, "cannot listen on 127.0.0.1")
    assert not (tmp_path / "serve").exists()  # nothing made, no worker started


def test_ctrl_c_stops_the_service_cleanly(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "impasto", "serve", "--port", str(port), "--data-dir",
         str(tmp_path / "data"), "--workers", "1"], stderr=subprocess.PIPE, text=True)
    try:
        wait_until_up(f"http://127.0.0.1:{port}")
        server.send_signal(signal.SIGINT)
        err = server.communicate(timeout=60)[1]
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, err
    assert "impasto serve: stopped" in err and "Traceback" not in err
