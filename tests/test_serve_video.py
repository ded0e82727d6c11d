"""Video jobs in ``impasto serve``, on tiny clips the tests make with PyAV (8 frames of 64x48
with a sine-wave audio track; nothing is downloaded): submitted through ``POST /api/jobs`` like
a photo, recognised by their bytes, painted by a worker in the test's process with a progress
event per frame and previews, served as a video with its audio; options and limits checked at
submission; cancel within a frame; a killed worker's retry going on from its last whole
segment; and a clear 501 where PyAV is missing."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("httpx2")

from impasto.serve.store import Store
from impasto.serve.worker import work_on
from tests.conftest import synthetic_rgb, tiny_clip
from tests.serving import PHOTO, drain, events, half_mask, make

HAS_VIDEO = all(importlib.util.find_spec(m) is not None for m in ("av", "cv2"))
needs_video = pytest.mark.skipif(not HAS_VIDEO, reason="the [video] extra (PyAV, OpenCV) is "
                                                       "not installed")
W, H = 64, 48
TINY = {"encoder": "student-relu4_1"}


def send(client: Any, content: bytes, *, name: str = "clip.mp4", method: str = "adain",
         options: dict[str, Any] | None = None, files: list[Any] | None = None) -> Any:
    form = {"method": method, "style_id": ["starry-night"],
            "options": json.dumps(TINY if options is None else options)}
    return client.post("/api/jobs", data=form, files=[
        ("content", (name, content, "video/mp4")), *(files or [])])


def decoded(raw: bytes) -> tuple[int, bool, tuple[int, int]]:
    """(frames, whether there is an audio stream, (width, height)) of a video's bytes."""
    import av

    with av.open(io.BytesIO(raw)) as c:
        frames = [f for f in c.decode(c.streams.video[0])]
        return len(frames), bool(c.streams.audio), (frames[0].width, frames[0].height)


@needs_video
def test_a_video_job_from_submission_to_its_video(tmp_path: Path) -> None:
    client, data = make(tmp_path)
    answer = send(client, tiny_clip(), options={**TINY, "size": 64, "temporal": 0.3})
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert job["kind"] == "video" and job["video"]["frames"] == 8
    assert job["video"]["audio"] == "aac" and job["options"]["temporal"] == 0.3
    store = Store(data.db)
    assert store.get(job["id"]).lane == "slow"  # AdaIN, but a whole clip: not the quick lane
    assert store.claim("quick-only", ("quick",), 30.0) is None
    picture = client.post("/api/jobs", data={"style_id": ["starry-night"], "options": "{}"},
                          files=[("content", ("p.png", PHOTO, "image/png"))]).json()
    assert picture["kind"] == "picture" and picture["video"] is None
    assert drain(data) == 2
    done = client.get(f"/api/jobs/{job['id']}").json()
    assert done["status"] == "done", done
    assert done["timings"]["frames"] == 8
    result = client.get(done["links"]["result"])
    assert result.status_code == 200 and result.headers["content-type"] == "video/mp4"
    assert decoded(result.content) == (8, True, (64, 48))
    ranged = client.get(done["links"]["result"], headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.content) == 100  # players seek
    refused = client.get(done["links"]["result"], params={"format": "jpg"})
    assert refused.status_code == 422 and "converts pictures only" in refused.json()["detail"]
    seen = events(client, job["id"])
    frames = [d for _, k, d in seen if k in ("progress", "preview") and d.get("stage") == "frame"]
    assert [d["frame"] for d in frames] == list(range(1, 9))
    assert all(d["frames"] == 8 for d in frames) and frames[-1]["seconds_left"] == 0
    previews = [d for _, k, d in seen if k == "preview"]
    assert previews and previews[0]["frame"] == 1
    poster = client.get(done["links"]["poster"])
    assert poster.status_code == 200 and poster.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(poster.content)).size == (64, 48)
    out = tmp_path / "out.mp4"
    out.write_bytes(result.content)
    from impasto.provenance.inspect import inspect_file

    assert inspect_file(out).state == "untrusted"  # signed by the local test authority
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 204
    assert not list(data.results_dir.glob(f"*{job['id']}*"))


@needs_video
def test_options_formats_and_an_animated_gif(tmp_path: Path) -> None:
    client, data = make(tmp_path)
    webm = send(client, tiny_clip(), options={**TINY, "size": 32, "start": 0.25,
                                              "duration": 0.25, "format": "webm",
                                              "temporal": 0}).json()
    assert webm["video"] == {"frames": 3, "size": [32, 24], "audio": "aac", "format": "webm"}
    gif = io.BytesIO()
    frames = [Image.fromarray(synthetic_rgb(H, W, seed=i)) for i in range(4)]
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=100)
    animated = send(client, gif.getvalue(), name="loop.gif").json()
    assert animated["kind"] == "video" and animated["video"]["frames"] == 4
    assert drain(data) == 2
    result = client.get(f"/api/jobs/{webm['id']}/result")
    assert result.headers["content-type"] == "video/webm"
    assert decoded(result.content) == (3, True, (32, 24))
    result = client.get(f"/api/jobs/{animated['id']}/result")
    assert result.headers["content-type"] == "video/mp4"
    assert decoded(result.content)[:2] == (4, False)


#: Each bad-option case's options, over the tiny clip's.
BAD_OPTIONS: dict[str, dict[str, Any]] = {
    "size": {"size": "big"}, "crf": {"crf": 99}, "temporal": {"temporal": 1.5},
    "format": {"format": "avi"}, "start": {"start": 5}, "duration": {"duration": 0},
    "method option": {"sizee": 4}}


@needs_video
@pytest.mark.parametrize("case", ["size", "crf", "temporal", "format", "start", "duration",
                                  "method option", "method", "mask", "frames x pixels",
                                  "frame size", "bytes", "not a video", "broken mp4"])
def test_bad_video_submissions_are_refused_with_a_message(tmp_path: Path, case: str) -> None:
    limits = {"max_upload_bytes": 200_000,
              "max_video_pixels": 8 * W * H - 1 if case == "frames x pixels" else 10**9,
              "max_frame_pixels": 3000 if case == "frame size" else 10**7}
    client, data = make(tmp_path, **limits)
    options, content, code, files = dict(TINY), tiny_clip(), 422, None
    method = "adain"
    needle = {"size": "size must be a whole number", "crf": "crf must be 0 to 63",
              "temporal": "temporal weight must be in [0, 1)", "format": "format must be one of",
              "start": "past the end of the clip", "duration": "duration must be a number over",
              "method option": "sizee", "method": "magic", "mask": "go with pictures",
              "frames x pixels": "8 frames of 64x48 to paint (24,576 pixels), over the "
                                 "limit of 24,575",
              "frame size": "frames are 64x48 pixels, over the limit of 3000",
              "bytes": "over the limit", "not a video": "not a picture",
              "broken mp4": "the video could not be decoded"}[case]
    options.update(BAD_OPTIONS.get(case, {}))
    if case == "method":
        method = "magic"
    elif case == "mask":
        files = [("protect", ("protect.png", half_mask(64, 48), "image/png"))]
    elif case == "bytes":
        content, code = content + bytes(200_000), 413
    elif case == "not a video":
        content = b"#!/bin/sh\necho this is not a video\n"
    elif case == "broken mp4":
        content = b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 8
    answer = send(client, content, method=method, options=options, files=files)
    assert answer.status_code == code, answer.text
    assert needle in answer.json()["detail"], answer.json()
    assert Store(data.db).list(limit=10, offset=0)[1] == 0  # nothing accepted
    assert not any(data.uploads_dir.iterdir())


@needs_video
def test_cancel_stops_a_video_within_a_frame(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from impasto.serve import videos

    made: list[int] = []
    original = videos._FrameEvents.__call__

    def slowly(self: Any, p: Any) -> None:  # a slow machine: 0.15 s a frame
        time.sleep(0.15)
        made.append(p.frames)
        original(self, p)

    monkeypatch.setattr(videos._FrameEvents, "__call__", slowly)
    client, data = make(tmp_path)
    job = send(client, tiny_clip(40, audio=False)).json()
    runner = threading.Thread(target=drain, args=(data,), daemon=True)
    runner.start()
    deadline = time.time() + 60
    while time.time() < deadline and len(made) < 3:
        time.sleep(0.05)
    asked = time.time()
    assert client.post(f"/api/jobs/{job['id']}/cancel").status_code == 202
    runner.join(timeout=60)
    state = client.get(f"/api/jobs/{job['id']}").json()
    assert state["status"] == "cancelled" and state["finished"] - asked < 3
    assert len(made) < 40  # stopped mid-clip (the heartbeat sees the cancel within 0.5 s)
    assert client.get(f"/api/jobs/{job['id']}/result").status_code == 409
    assert not list(data.results_dir.glob(f"*{job['id']}*"))  # no half-written video kept


@needs_video
def test_a_killed_workers_video_goes_on_from_its_last_whole_segment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from impasto.pipeline import Pipeline
    from impasto.serve import videos, worker

    monkeypatch.setattr(videos, "SEGMENT", 4)
    monkeypatch.setattr(worker, "LEASE", 0.3)
    original = videos._FrameEvents.__call__

    def killed_at_6(self: Any, p: Any) -> None:
        original(self, p)
        if p.frames == 6 and self.worker == "w1":
            raise SystemExit("killed")  # as kill -9 would, mid-segment

    monkeypatch.setattr(videos._FrameEvents, "__call__", killed_at_6)
    client, data = make(tmp_path)
    job = send(client, tiny_clip(), options={**TINY, "size": 64}).json()
    store, pipeline = Store(data.db), Pipeline("cpu")
    first = store.claim("w1", ("quick", "slow"), 0.3)
    assert first is not None
    with pytest.raises(SystemExit):
        work_on(first, store, pipeline, data, "w1")
    assert client.get(f"/api/jobs/{job['id']}/result").status_code == 409  # nothing served
    time.sleep(0.4)  # w1's lease runs out
    second = store.claim("w2", ("quick", "slow"), 30.0)
    assert second is not None and second.id == job["id"] and second.attempts == 2
    work_on(second, store, pipeline, data, "w2")
    done = client.get(f"/api/jobs/{job['id']}").json()
    assert done["status"] == "done" and done["timings"]["resumed_at"] == 4, done
    assert decoded(client.get(done["links"]["result"]).content) == (8, True, (64, 48))


def test_a_video_without_pyav_is_a_501_saying_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "av", None)  # import av fails, as without the extra
    client, data = make(tmp_path)
    answer = send(client, b"\x00\x00\x00\x18ftypisom" + bytes(64))
    assert answer.status_code == 501, answer.text
    assert "pip install 'impasto[video]'" in answer.json()["detail"]
    assert Store(data.db).list(limit=10, offset=0)[1] == 0
