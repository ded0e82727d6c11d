"""impasto batch --engine ray on a real local Ray cluster (2 CPUs, a small object store),
started by the tests: the same outputs, byte for byte, and the same results.jsonl as the
local engine; an actor killed in the middle of a batch and every item still made."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from impasto.cli.main import main
from tests.conftest import synthetic_rgb

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, object_store_memory=80 * 1024 * 1024, include_dashboard=False,
             log_to_driver=False)
    yield
    ray.shutdown()


def test_an_unreachable_cluster_is_one_line_at_once(tmp_path: Path, capsys) -> None:
    """Before any cluster is started here: Ray alone would wait minutes for the address."""
    from impasto.serve.service import free_port

    _photos(tmp_path / "in", 1)
    started = time.monotonic()
    assert main(["batch", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--style",
                 "starry-night", "--method", "adain", "--engine", "ray", "--ray-address",
                 f"127.0.0.1:{free_port()}"]) == 2
    assert time.monotonic() - started < 60
    err = capsys.readouterr().err
    assert "cannot reach the Ray cluster at 127.0.0.1:" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "results.jsonl").exists()


def _photos(folder: Path, count: int, size: tuple[int, int] = (64, 48)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(synthetic_rgb(size[1], size[0], seed=i)).save(folder / f"p{i}.png")


def _rows(folder: Path) -> list[dict]:
    rows = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    for row in rows:  # how long it took is the only thing allowed to differ
        row.pop("seconds", None)
    return rows


def test_ray_engine_matches_local_engine(tmp_path: Path, cluster) -> None:
    _photos(tmp_path / "work" / "photos", 3)
    (tmp_path / "work" / "s.png").write_bytes(b"")
    Image.fromarray(synthetic_rgb(40, 40, seed=7)).save(tmp_path / "work" / "s.png")
    manifest = tmp_path / "work" / "jobs.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in [
        {"content": "photos/p0.png", "style": "s.png"},
        {"content": "photos/p1.png", "style": "starry-night", "strength": 0.5},
        {"content": "photos/p2.png", "style": "s.png", "method": "wct"},
        {"content": "photos/gone.png", "style": "s.png"},
    ]))
    common = ["--method", "adain", "--size", "48", "--no-provenance"]
    local, remote = tmp_path / "local", tmp_path / "ray"
    assert main(["batch", str(manifest), "-o", str(local), *common]) == 1
    assert main(["batch", str(manifest), "-o", str(remote), *common, "--engine", "ray"]) == 1
    assert _rows(local) == _rows(remote)
    outputs = sorted(p.name for p in local.glob("*.png"))
    assert len(outputs) == 3 and outputs == sorted(p.name for p in remote.glob("*.png"))
    for name in outputs:
        assert (local / name).read_bytes() == (remote / name).read_bytes()
    # Signed on the actors with the driver's credentials.
    signed = tmp_path / "signed"
    assert main(["batch", str(tmp_path / "work" / "photos"), "-o", str(signed), "--style",
                 "starry-night", "--method", "adain", "--size", "48", "--engine", "ray"]) == 0
    from impasto.provenance.inspect import inspect_file

    report = inspect_file(signed / "p0_starry-night.png")
    assert report.state in ("trusted", "untrusted")  # valid; the test authority is local


def _actor_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "MapBatches(_Renderer)" in command:
            pids.append(int(entry.name))
    return pids


def test_killed_actor_still_completes_every_item(tmp_path: Path, cluster) -> None:
    _photos(tmp_path / "in", 10, size=(256, 192))
    out = tmp_path / "out"
    codes: list[int] = []
    run = threading.Thread(target=lambda: codes.append(main([
        "batch", str(tmp_path / "in"), "-o", str(out), "--style", "starry-night",
        "--method", "adain", "--size", "256", "--no-provenance", "--engine", "ray"])))
    run.start()
    results = out / "results.jsonl"
    killed = None
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and run.is_alive():
        pids = _actor_pids()
        if pids and results.exists() and results.read_text().count("\n") >= 1:
            killed = pids[0]
            os.kill(killed, signal.SIGKILL)
            break
        time.sleep(0.05)
    run.join(timeout=300)
    assert killed is not None, "no actor was seen working"
    assert codes == [0]
    rows = _rows(out)
    assert sorted(r["output"] for r in rows) == sorted(f"p{i}_starry-night.png"
                                                       for i in range(10))
    assert all(r["status"] == "done" for r in rows)
    assert len(list(out.glob("*.png"))) == 10
