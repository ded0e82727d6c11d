"""``impasto serve``: every endpoint and its errors through FastAPI's test client, jobs run by a
worker in the test's process, the store's leases and retries, and a real service (uvicorn and
worker processes) whose worker is killed mid-job."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("httpx2")

from fastapi.testclient import TestClient

from impasto.serve.app import Settings, create_app
from impasto.serve.files import DataDir
from impasto.serve.service import free_port, wait_until_up
from impasto.serve.store import Store
from impasto.serve.worker import work_on
from tests.conftest import stripes, synthetic_rgb

QUICK = {"encoder": "student-relu4_1", "size": 48}


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


PHOTO = png(synthetic_rgb(40, 56))
PAINTING = png(stripes(48, 48))


def make(tmp_path: Path, **changes: Any) -> tuple[TestClient, DataDir]:
    data = DataDir(tmp_path / "serve")
    app = create_app(Settings(data, **changes))
    return TestClient(app), data


def submit(client: TestClient, *, method: str = "adain", styles: tuple[str, ...] = (
        "starry-night",), options: dict[str, Any] | None = None, photo: bytes = PHOTO,
           headers: dict[str, str] | None = None, files: list[Any] | None = None) -> Any:
    form = {"method": method, "options": json.dumps(QUICK if options is None else options),
            "style_id": list(styles)}
    upload = [("content", ("photo.png", photo, "image/png")), *(files or [])]
    return client.post("/api/jobs", data=form, files=upload, headers=headers or {})


def drain(data: DataDir, name: str = "test-worker") -> int:
    """Run every queued job in this process, as a worker process would; how many ran."""
    from impasto.pipeline import Pipeline

    store = Store(data.db)
    pipeline = Pipeline("cpu")
    ran = 0
    while (job := store.claim(name, ("quick", "slow"), 30.0)) is not None:
        work_on(job, store, pipeline, data, name)
        ran += 1
    store.close()
    return ran


def events(client: TestClient, job_id: str, after: int | None = None
           ) -> list[tuple[int, str, dict[str, Any]]]:
    headers = {} if after is None else {"Last-Event-ID": str(after)}
    out = []
    with client.stream("GET", f"/api/jobs/{job_id}/events", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        block: dict[str, str] = {}
        for line in response.iter_lines():
            if line == "":
                if "id" in block:
                    out.append((int(block["id"]), block["event"], json.loads(block["data"])))
                block = {}
                continue
            key, _, value = line.partition(": ")
            block[key] = value
    return out


def test_health_schema_and_styles(tmp_path: Path) -> None:
    client, _ = make(tmp_path)
    assert client.get("/api/health").json()["status"] == "ok"
    schema = client.get("/openapi.json").json()
    for path in ("/api/jobs", "/api/jobs/{job_id}/events", "/api/styles"):
        assert path in schema["paths"]
    styles = client.get("/api/styles").json()["styles"]
    starry = next(s for s in styles if s["id"] == "starry-night")
    assert starry["licence"] == "public domain" and starry["artist"] == "Vincent van Gogh"
    image = client.get(starry["image"])
    assert image.status_code == 200 and Image.open(io.BytesIO(image.content)).size[0] > 0
    made = client.post("/api/styles", data={"title": "Stripes", "artist": "A. Painter",
                                            "licence": "CC BY 4.0"},
                       files={"image": ("../../evil.png", PAINTING, "image/png")})
    assert made.status_code == 201, made.text
    style = made.json()
    assert style["id"].startswith("u-") and style["licence"] == "CC BY 4.0"
    assert client.get(style["image"]).content == PAINTING
    assert client.get("/api/styles/nope/image").status_code == 404
    assert not (tmp_path / "evil.png").exists() and not (tmp_path.parent / "evil.png").exists()


def test_a_job_from_submission_to_signed_result(tmp_path: Path) -> None:
    client, data = make(tmp_path)
    style = client.post("/api/styles", data={"title": "Stripes", "licence": "CC0"},
                        files={"image": ("s.png", PAINTING, "image/png")}).json()
    answer = submit(client, styles=("starry-night", style["id"]))
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert job["status"] == "queued" and job["links"]["events"].endswith("/events")
    assert client.get(f"/api/jobs/{job['id']}/result").status_code == 409
    assert drain(data) == 1
    done = client.get(f"/api/jobs/{job['id']}").json()
    assert done["status"] == "done" and done["progress"] == 1 and "result" in done["links"]
    picture = client.get(done["links"]["result"])
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
    out = tmp_path / "result.png"
    out.write_bytes(picture.content)
    assert Image.open(out).size == (48, 34)
    from impasto.provenance.inspect import inspect_file

    found = inspect_file(out)
    assert found.state == "untrusted" and found.records_agree  # the local test authority
    styles = [i for i in found.ingredients if i["relationship"] == "componentOf"]
    assert [s["metadata"]["org.impasto.licence"] for s in styles] == ["public domain", "CC0"]
    seen = events(client, job["id"])
    kinds = [k for _, k, _ in seen]
    assert kinds[0] == "queued" and kinds[1] == "running" and kinds[-1] == "done"
    ids = [i for i, _, _ in seen]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    resumed = events(client, job["id"], after=ids[1])
    assert [i for i, _, _ in resumed] == ids[2:]
    assert events(client, job["id"], after=ids[-1]) == []  # all sent: the stream ends
    for bad in ("x", "-1", str(2**70)):
        answer = client.get(f"/api/jobs/{job['id']}/events", headers={"Last-Event-ID": bad})
        assert answer.status_code == 422, bad
    for fmt, kind in (("jpg", "JPEG"), ("tif", "TIFF"), ("webp", "WEBP")):
        other = client.get(done["links"]["result"], params={"format": fmt})
        assert other.status_code == 200, other.text
        converted = tmp_path / f"result.{fmt}"
        converted.write_bytes(other.content)
        assert Image.open(converted).format == kind and Image.open(converted).size == (48, 34)
        again = inspect_file(converted)
        assert again.state == "untrusted" and again.records_agree, fmt
    assert client.get(done["links"]["result"], params={"format": "bmp"}).status_code == 422
    listed = client.get("/api/jobs", params={"limit": 5}).json()
    assert listed["total"] == 1 and listed["jobs"][0]["id"] == job["id"]


def test_the_optimiser_streams_previews_and_cancels_within_a_step(tmp_path: Path) -> None:
    client, data = make(tmp_path)
    job = submit(client, method="optimize",
                 options={"size": 48, "iterations": 4000, "preview_every": 2}).json()
    runner = threading.Thread(target=drain, args=(data,), daemon=True)
    runner.start()
    deadline = time.time() + 120
    while time.time() < deadline:
        state = client.get(f"/api/jobs/{job['id']}").json()
        if state["status"] == "running" and state["progress"] > 0:
            break
        time.sleep(0.1)
    time.sleep(1.0)
    asked = time.time()
    assert client.post(f"/api/jobs/{job['id']}/cancel").status_code == 202
    runner.join(timeout=60)
    assert not runner.is_alive()
    state = client.get(f"/api/jobs/{job['id']}").json()
    assert state["status"] == "cancelled" and state["finished"] - asked < 10
    seen = events(client, job["id"])
    previews = [d for _, k, d in seen if k == "preview"]
    assert previews, [k for _, k, _ in seen]
    first = client.get(previews[0]["url"])
    assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
    assert seen[-1][1] == "cancelled"
    assert client.post(f"/api/jobs/{job['id']}/cancel").status_code == 409
    assert client.get(f"/api/jobs/{job['id']}/result").status_code == 409


def test_a_brushed_region_is_kept_by_the_optimiser(tmp_path: Path) -> None:
    client, data = make(tmp_path)
    mask = np.zeros((40, 56), np.uint8)
    mask[10:30, 10:30] = 255
    files = [("protect", ("protect.png", png(np.dstack([mask] * 3)), "image/png"))]
    refused = submit(client, files=files)  # AdaIN keeps no region
    assert refused.status_code == 422 and "optimize" in refused.json()["detail"]
    job = submit(client, method="optimize", options={"size": 32, "iterations": 4},
                 files=files).json()
    assert drain(data) == 1
    done = client.get(f"/api/jobs/{job['id']}").json()
    assert done["status"] == "done", done
    out = tmp_path / "kept.png"
    out.write_bytes(client.get(done["links"]["result"]).content)
    from impasto.provenance.inspect import inspect_file

    record = inspect_file(out).record
    assert record is not None and record["masks"][0]["protect"] == 10.0


def half_mask(width: int = 56, height: int = 40) -> bytes:
    """White on the left half (the second style's region), black on the right."""
    mask = np.zeros((height, width), np.uint8)
    mask[:, : width // 2] = 255
    return png(np.dstack([mask] * 3))


def submit_region(client: TestClient, *, style_id: str | None = "the-scream",
                  mask: bytes | None = None, **kwargs: Any) -> Any:
    form = {"method": kwargs.pop("method", "adain"),
            "options": json.dumps(kwargs.pop("options", QUICK)),
            "style_id": list(kwargs.pop("styles", ("starry-night",)))}
    if style_id is not None:
        form["region_style_id"] = style_id
    upload = [("content", ("photo.png", PHOTO, "image/png"))]
    if mask is not None:
        upload.append(("region", ("region.png", mask, "image/png")))
    return client.post("/api/jobs", data=form, files=upload, **kwargs)


def test_two_styles_in_two_regions(tmp_path: Path) -> None:
    client, data = make(tmp_path)
    both = submit_region(client, mask=half_mask())
    assert both.status_code == 202, both.text
    job = both.json()
    assert job["styles"] == ["starry-night", "the-scream"] and job["region_style"] == 2
    alone = {name: submit(client, styles=(name,)).json()["id"]
             for name in ("starry-night", "the-scream")}
    assert drain(data) == 3

    def picture(job_id: str, name: str) -> np.ndarray:
        done = client.get(f"/api/jobs/{job_id}").json()
        assert done["status"] == "done", done
        path = tmp_path / f"{name}.png"
        path.write_bytes(client.get(done["links"]["result"]).content)
        return np.asarray(Image.open(path).convert("RGB"), np.float32)

    two = picture(job["id"], "two")
    starry, scream = picture(alone["starry-night"], "starry"), picture(alone["the-scream"],
                                                                      "scream")
    assert two.shape == starry.shape == (34, 48, 3)
    left, right = np.s_[:, :16], np.s_[:, 32:]  # a third of each side: the edge blends

    def distance(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.abs(a - b).mean())

    # The brushed (left) side is in the second style, the rest in the first.
    assert distance(two[left], scream[left]) < distance(two[left], starry[left])
    assert distance(two[right], starry[right]) < distance(two[right], scream[right])
    from impasto.provenance.inspect import inspect_file

    record = inspect_file(tmp_path / "two.png").record
    assert record is not None
    assert record["masks"] == [{"name": "region.png", "style": 2},
                               {"name": "region-rest.png", "style": 1}]
    assert [s.get("builtin", {}).get("name") for s in record["styles"]] == [
        "starry-night", "the-scream"]
    # An uploaded style is a second style too.
    own = client.post("/api/styles", data={"title": "Stripes", "licence": "CC0"},
                      files={"image": ("s.png", PAINTING, "image/png")}).json()
    answer = submit_region(client, style_id=own["id"], mask=half_mask())
    assert answer.status_code == 202 and answer.json()["styles"] == ["starry-night",
                                                                      "Stripes"]


@pytest.mark.parametrize("case", ["no style", "no region", "not a picture", "all black",
                                  "network", "colour", "shape", "unknown style",
                                  "two main styles", "oversize"])
def test_bad_regions_are_refused_with_a_message(tmp_path: Path, case: str) -> None:
    client, data = make(tmp_path, max_upload_bytes=200_000)
    mask, style_id, kwargs = half_mask(), "the-scream", {}
    code, needle = 422, ""
    if case == "no style":
        style_id, needle = None, "needs region_style_id"
    elif case == "no region":
        mask, needle = None, "needs a region"
    elif case == "not a picture":
        mask, needle = b"GIF89a but not really", "the region mask is not a picture"
    elif case == "all black":
        mask, needle = png(np.zeros((40, 56, 3), np.uint8)), "all black"
    elif case == "network":
        kwargs, needle = {"method": "network", "styles": ()}, "not network"
    elif case == "colour":
        red = np.zeros((40, 56, 3), np.uint8)
        red[..., 0] = 255
        mask, needle = png(red), "black and white"
    elif case == "shape":
        mask, needle = half_mask(40, 40), "the photo's shape"
    elif case == "unknown style":
        style_id, needle = "../../etc/passwd", "no style"
    elif case == "two main styles":
        kwargs, needle = {"styles": ("starry-night", "the-scream")}, "one main style"
    else:
        mask, code, needle = os.urandom(300_000), 413, "over the limit"
    answer = submit_region(client, style_id=style_id, mask=mask, **kwargs)
    assert answer.status_code == code, answer.text
    assert needle in answer.json()["detail"]
    assert Store(data.db).list(limit=10, offset=0)[1] == 0  # nothing accepted
    assert not any(data.uploads_dir.iterdir())


def test_a_protect_mask_is_checked_at_submission(tmp_path: Path) -> None:
    client, data = make(tmp_path)
    for mask, needle in ((half_mask(40, 40), "the protect mask is 40x40 but the photo is "
                                             "56x40"),
                         (PAINTING, "the protect mask must be black and white")):
        answer = submit(client, method="optimize", options={"size": 32, "iterations": 4},
                        files=[("protect", ("protect.png", mask, "image/png"))])
        assert answer.status_code == 422 and needle in answer.json()["detail"], answer.text
    assert Store(data.db).list(limit=10, offset=0)[1] == 0


def test_idempotency_cancel_and_delete(tmp_path: Path) -> None:
    client, data = make(tmp_path)
    key = {"Idempotency-Key": "order-1"}
    first = submit(client, headers=key)
    again = submit(client, headers=key)
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    other = submit(client).json()
    cancelled = client.post(f"/api/jobs/{other['id']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    assert client.delete(f"/api/jobs/{first.json()['id']}").status_code == 409  # queued
    assert drain(data) == 1
    job_id = first.json()["id"]
    assert data.result(job_id).is_file()
    assert client.delete(f"/api/jobs/{job_id}").status_code == 204
    assert client.get(f"/api/jobs/{job_id}").status_code == 404
    assert not data.result(job_id).exists() and not data.upload(job_id, "content.png").exists()


@pytest.mark.parametrize("case", ["oversize", "not a picture", "pixels", "bomb", "options json",
                                  "unknown option", "unknown style", "no style", "method",
                                  "bad limit"])
def test_hostile_and_bad_submissions_are_4xx_with_a_message(tmp_path: Path,
                                                              case: str) -> None:
    client, data = make(tmp_path, max_upload_bytes=200_000, max_pixels=1_000_000)
    if case == "oversize":
        answer = submit(client, photo=os.urandom(300_000))
        code, needle = 413, "over the limit"
    elif case == "not a picture":
        answer = submit(client, photo=b"#!/bin/sh\necho hello\n")
        code, needle = 422, "not a picture"
    elif case == "pixels":
        answer = submit(client, photo=png(np.zeros((1100, 1000, 3), np.uint8)))
        code, needle = 422, "over the limit of 1000000"
    elif case == "bomb":
        bomb = io.BytesIO()
        Image.new("1", (20000, 20000)).save(bomb, "PNG")  # 400 megapixels in 50 kB
        answer = submit(client, photo=bomb.getvalue())
        code, needle = 422, "pixels"
    elif case == "options json":
        answer = client.post("/api/jobs", data={"method": "adain", "options": "{size: 4",
                                                "style_id": ["starry-night"]},
                             files=[("content", ("p.png", PHOTO, "image/png"))])
        code, needle = 422, "JSON object"
    elif case == "unknown option":
        answer = submit(client, options={"sizee": 4})
        code, needle = 422, "sizee"
    elif case == "unknown style":
        answer = submit(client, styles=("../../etc/passwd",))
        code, needle = 422, "no style"
    elif case == "no style":
        answer = submit(client, styles=())
        code, needle = 422, "needs a style"
    elif case == "method":
        answer = submit(client, method="magic")
        code, needle = 422, "magic"
    else:
        answer = client.get("/api/jobs", params={"limit": 0})
        code, needle = 422, "limit"
    assert answer.status_code == code, answer.text
    assert needle in answer.json()["detail"]
    assert Store(data.db).list(limit=10, offset=0)[1] == 0  # nothing accepted
    assert not any(data.uploads_dir.iterdir())


def test_api_keys_rate_limit_and_full_queue(tmp_path: Path) -> None:
    client, _ = make(tmp_path, api_keys=("secret-1",), rate_per_second=0.01, rate_burst=2,
                     max_queue=1)
    assert submit(client).status_code == 401
    assert submit(client, headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.get("/api/jobs").status_code == 401
    good = {"X-API-Key": "secret-1"}
    assert submit(client, headers=good).status_code == 202
    full = submit(client, headers=good)
    assert full.status_code == 503 and "queue is full" in full.json()["detail"]
    limited = submit(client, headers=good)
    assert limited.status_code == 429 and limited.headers["Retry-After"]
    assert client.get("/api/jobs", headers={"Authorization": "Bearer secret-1"}).json()[
        "total"] == 1


def test_get_requests_take_the_key_as_a_query_parameter(tmp_path: Path) -> None:
    """What a browser fetches by itself (EventSource, <img>, a download link) cannot send a
    header: GET requests take ?key=, nothing that changes anything does."""
    client, data = make(tmp_path, api_keys=("secret-1",))
    job = submit(client, headers={"X-API-Key": "secret-1"}).json()
    assert client.post("/api/jobs", params={"key": "secret-1"}, data={
        "style_id": ["starry-night"]}, files=[("content", ("p.png", PHOTO, "image/png"))]
                       ).status_code == 401
    assert client.post(f"/api/jobs/{job['id']}/cancel",
                       params={"key": "secret-1"}).status_code == 401
    assert client.delete(f"/api/jobs/{job['id']}", params={"key": "secret-1"}
                         ).status_code == 401
    assert client.get("/api/jobs", params={"key": "secret-1"}).json()["total"] == 1
    wrong = client.get("/api/jobs", params={"key": "wrong"})
    assert wrong.status_code == 401 and "not valid" in wrong.json()["detail"]
    assert client.get("/api/styles", params={"key": "secret-1"}).status_code == 200
    assert client.get("/api/styles/starry-night/image",
                      params={"key": "secret-1"}).status_code == 200
    assert drain(data) == 1
    with client.stream("GET", f"/api/jobs/{job['id']}/events",
                       params={"key": "secret-1"}) as stream:
        assert stream.status_code == 200
        assert "event: done" in "".join(stream.iter_text())
    result = client.get(f"/api/jobs/{job['id']}/result",
                        params={"format": "jpg", "key": "secret-1"})
    assert result.status_code == 200 and result.headers["content-type"] == "image/jpeg"
    # A header, when there is one, is what counts.
    assert client.get("/api/jobs", params={"key": "secret-1"},
                      headers={"X-API-Key": "wrong"}).status_code == 401


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


def test_each_key_sees_its_own_jobs(tmp_path: Path) -> None:
    client, _ = make(tmp_path, api_keys=("alice", "bob"))
    job = submit(client, headers={"X-API-Key": "alice"}).json()
    assert client.get(f"/api/jobs/{job['id']}", headers={"X-API-Key": "alice"}).status_code \
        == 200
    for path in ("", "/events", "/result"):
        assert client.get(f"/api/jobs/{job['id']}{path}",
                          headers={"X-API-Key": "bob"}).status_code == 404
    assert client.post(f"/api/jobs/{job['id']}/cancel",
                       headers={"X-API-Key": "bob"}).status_code == 404
    assert client.get("/api/jobs", headers={"X-API-Key": "bob"}).json()["total"] == 0


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
