"""What the tests of ``impasto serve`` share: a test client over a fresh data folder, a
submission, a worker run in the test's process, the events stream read to its end."""

from __future__ import annotations

import io
import json
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
