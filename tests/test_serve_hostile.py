"""``impasto serve`` against hostile and wrong input: oversize uploads, decompression bombs,
non-pictures, bad masks and options, unknown styles, path traversal in names, missing or wrong
API keys, other clients' jobs, rate limits and a full queue: each a 4xx with a message, and
nothing stored."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("httpx2")

from impasto.serve.store import Store
from tests.serving import PAINTING, PHOTO, drain, half_mask, make, png, submit, submit_region


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

@pytest.mark.parametrize("case", ["oversize", "not a picture", "pixels", "bomb", "options json",
                                  "unknown option", "unknown style", "no style", "method",
                                  "bad limit", "model path", "init path", "unknown model"])
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
    elif case == "model path":  # a path on the service's machine: never read
        answer = submit(client, method="network", styles=(), options={"model": "/etc"})
        code, needle = 422, "option model must be one of"
    elif case == "init path":
        answer = submit(client, method="optimize", options={"init": str(tmp_path / "x.png")})
        code, needle = 422, "no path"
    elif case == "unknown model":  # known at submission: not a job that fails later
        answer = submit(client, method="network", styles=(), options={"model": "nope"})
        code, needle = 422, "'nope'"
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
