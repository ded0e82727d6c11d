"""What ``impasto serve`` answers about its jobs and styles (JSON), and a result converted to
another format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from impasto.serve.files import DataDir
from impasto.serve.store import Job


def converted(data: DataDir, job_id: str, fmt: str) -> Path:
    """The job's picture in another format, made once (atomically) and kept beside it."""
    from PIL import Image

    from impasto.image.save import read_metadata, save_image
    from impasto.provenance import METADATA_KEY
    from impasto.provenance.signing import default_signer

    target = data.result(job_id).with_suffix(f".{fmt}")
    if target.is_file():
        return target
    source = data.result(job_id)
    metadata = read_metadata(source)
    record = json.loads(metadata[METADATA_KEY]) if METADATA_KEY in metadata else None
    with Image.open(source) as img:
        picture = img.convert("RGBA" if "A" in img.getbands() else "RGB")

    save_image(picture, target, metadata=metadata or None,
               sign=None if record is None else default_signer().for_record(record))
    return target


def style_json(style: dict[str, Any]) -> dict[str, Any]:
    return {"id": style["id"], "title": style["title"], "artist": style.get("artist"),
            "year": style.get("year"), "licence": style.get("licence"),
            "attribution": style.get("attribution"), "builtin": False, "network": None,
            "image": f"/api/styles/{style['id']}/image"}


def job_json(job: Job) -> dict[str, Any]:
    base = f"/api/jobs/{job.id}"
    links = {"self": base, "events": f"{base}/events", "cancel": f"{base}/cancel"}
    options = dict(job.request.get("options") or {})
    video: dict[str, Any] | None = None
    if job.kind == "video":  # the video's own options beside the method's, as sent
        clip = job.request.get("clip") or {}
        settings = job.request.get("video") or {}
        options.update({k: v for k, v in settings.items() if v is not None})
        video = {"frames": clip.get("frames"), "size": clip.get("size"),
                 "audio": clip.get("audio"), "format": settings.get("format")}
    if job.status == "done":
        links["result"] = f"{base}/result"
        if video is not None:  # the first frame's preview: a still for galleries
            links["poster"] = f"{base}/previews/1"
    return {"id": job.id, "kind": job.kind, "status": job.status, "method": job.method,
            "progress": round(job.progress, 4), "error": job.error, "attempts": job.attempts,
            "created": job.created, "started": job.started, "finished": job.finished,
            "timings": job.timings, "options": options,
            "styles": [s.get("builtin") or s.get("title") or "uploaded"
                       for s in job.request.get("styles") or ()],
            # the number (from 1) of the style painted in the brushed region, if any
            "region_style": (job.request.get("region") or {}).get("style"),
            # a video job's clip: frames painted, their size (W, H), its audio, the format
            "video": video, "links": links}
