"""A submission to ``impasto serve`` checked and stored: a picture job or a video job, told
apart by the content's bytes (never its name or content type). Everything that can be known
at submission is checked here (a 4xx with a message), so no accepted job fails later for a
reason known up front; the files are written first, then the job is committed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse

from impasto.image.masks import DEFAULT_PROTECT_WEIGHT
from impasto.image.save import write_bytes_atomically
from impasto.serve.checks import check_request, decode, job_spec, mask_pixels, region_spec
from impasto.serve.files import DataDir
from impasto.serve.views import job_json


@dataclass
class Submission:
    """What a client sent to ``POST /api/jobs``, read (the uploads within the byte limit)."""

    who: str | None
    method: str
    style_ids: list[str]
    options: str
    idempotency_key: str | None
    content: bytes
    styles: list[bytes]
    protect: bytes | None = None
    region_style_id: str | None = None
    region: bytes | None = None


def accept(sub: Submission, settings: Any, data: DataDir, store: Any) -> JSONResponse:
    """A checked submission stored (its files first, then the committed job): 202 with the
    job, or 200 with the job an earlier submission with the same idempotency key made."""
    from impasto.serve.videos import sniff

    if sub.idempotency_key is not None:
        found = store.by_idempotency_key(sub.idempotency_key, sub.who)
        if found is not None:
            return JSONResponse(job_json(found), status_code=200)
    if store.queued() >= settings.max_queue:
        raise HTTPException(503, "the queue is full: try again later",
                            headers={"Retry-After": "30"})
    spec = job_spec(sub.method, sub.style_ids, sub.options, store)
    files: dict[str, bytes] = {}  # the job's uploads by the names the service gave them
    container = sniff(sub.content)
    if container is None:
        photo = decode(sub.content, settings.max_pixels, "the content", or_video=True)
        spec["content"] = f"content.{photo['ext']}"
    else:
        _video(spec, sub, container, settings)
    files[spec["content"]] = sub.content
    for i, raw in enumerate(sub.styles):
        picture = decode(raw, settings.max_pixels, f"style picture {i + 1}")
        spec["styles"].append({"upload": f"style-{i}.{picture['ext']}"})
        files[f"style-{i}.{picture['ext']}"] = raw
    if not spec["styles"] and spec["method"] != "network":
        raise HTTPException(422, f"method {spec['method']} needs a style: style_id or a style "
                                 "picture")
    if container is None:
        _masks(spec, sub, photo, settings, store, files)
    check_request(spec["method"], spec)
    from impasto.serve.store import new_id

    job_id = new_id()
    for name, raw in files.items():
        write_bytes_atomically(data.upload(job_id, name), raw)
    job, created = store.submit(spec["method"], spec, idempotency_key=sub.idempotency_key,
                                client=sub.who, job_id=job_id,
                                lane="slow" if container is not None else None)
    if not created:  # the same key raced in: keep the first job
        data.remove_job_files(job_id)
    return JSONResponse(job_json(job), status_code=202 if created else 200)


def _video(spec: dict[str, Any], sub: Submission, container: str, settings: Any) -> None:
    """A video job's part of ``spec``: its options split (the method's, the video's) and
    checked, the clip probed within the limits."""
    from impasto.serve.videos import (
        EXTENSIONS,
        VideoLimits,
        check_options,
        need_video_extra,
        probe,
        split_options,
    )

    if sub.protect is not None or sub.region is not None or sub.region_style_id is not None:
        raise HTTPException(422, "masks (protect, region_style_id and region) go with "
                                 "pictures, not videos")
    need_video_extra()
    options, values = split_options(spec["options"])
    video = check_options(values, spec["method"])
    clip = probe(sub.content, container, video,
                 VideoLimits(settings.max_frame_pixels, settings.max_video_pixels))
    spec.update(kind="video", options=options, video=video, clip=clip,
                content=f"content.{EXTENSIONS[container]}")


def _masks(spec: dict[str, Any], sub: Submission, photo: dict[str, Any], settings: Any,
           store: Any, files: dict[str, bytes]) -> None:
    """A picture's masks: the region to keep (``protect``), and a second style where the
    region mask is white, the main style everywhere else."""
    if sub.protect is not None:
        kept = decode(sub.protect, settings.max_pixels, "the protect mask")
        mask_pixels(sub.protect, photo, "the protect mask")
        spec["protect"] = {"upload": f"protect.{kept['ext']}",
                           "weight": DEFAULT_PROTECT_WEIGHT}
        files[spec["protect"]["upload"]] = sub.protect
    second = region_spec(spec, sub.region_style_id, sub.region, photo, settings.max_pixels,
                         store)
    if second is not None:
        spec["region"] = second[0]
        assert sub.region is not None
        files[second[0]["upload"]] = sub.region
        files[second[0]["rest"]] = second[1]
