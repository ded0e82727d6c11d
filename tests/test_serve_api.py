"""``impasto serve``'s API through FastAPI's test client, jobs run by a worker in the
test's process: every endpoint, a job from submission to its signed result, previews and
cancel, masks and regions, idempotency."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("httpx2")

from tests.serving import PAINTING, drain, events, half_mask, make, png, submit, submit_region


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


def test_a_builtin_style_painted_by_its_own_network(tmp_path: Path) -> None:
    """The styles list says which paintings have a trained network; method network with one
    paints with it, and with another is a 422 that says so."""
    client, data = make(tmp_path)
    styles = {s["id"]: s for s in client.get("/api/styles").json()["styles"]}
    assert styles["starry-night"]["network"] == "fast-starry-night"
    assert styles["in-bed"]["network"] is None
    refused = submit(client, method="network", styles=("in-bed",), options={"size": 48})
    assert refused.status_code == 422 and "in-bed has no trained network" in refused.text
    answer = submit(client, method="network", styles=("starry-night",), options={"size": 48})
    assert answer.status_code == 202, answer.text
    assert drain(data) == 1
    done = client.get(answer.json()["links"]["self"]).json()
    assert done["status"] == "done", done
    out = tmp_path / "trained.png"
    out.write_bytes(client.get(done["links"]["result"]).content)
    from impasto.provenance.inspect import inspect_file

    record = inspect_file(out).record
    assert record is not None and record["method"] == "network"
    assert record["model"]["name"] == "fast-starry-night"


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
