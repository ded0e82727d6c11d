"""The web process of ``impasto serve``: the REST API (FastAPI) over the job store, and the web
page. It renders nothing itself: jobs go to the store, worker processes do the work.

Every error a client can cause is a 4xx with ``{"detail": "..."}``: 401 (API key), 404
(unknown job, style or preview), 409 (a job not in the state asked for), 413 (upload too
large), 422 (not a picture, too many pixels, a bad option), 429 (over the rate), 503 (the
queue is full).

With API keys, every request sends one as a header; GET requests may send it as ``?key=``
instead (a browser's EventSource, ``<img>`` and download links cannot send headers).
"""


import asyncio
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import (
    Depends,
    FastAPI,
    File,
    Form,
    Header,
    HTTPException,
    Query,
    Request,
    UploadFile,
)
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from impasto._version import __version__
from impasto.errors import ImpastoError
from impasto.image.save import write_bytes_atomically
from impasto.serve.checks import Limiter, check_rate, decode, read_upload
from impasto.serve.files import DataDir
from impasto.serve.store import FINAL, Job, Store
from impasto.serve.submission import Submission, accept
from impasto.serve.videos import FORMATS
from impasto.serve.views import converted, job_json, style_json

STATIC = Path(__file__).with_name("static")
MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp",
               "tif": "image/tiff"}


class Error(BaseModel):
    """Every error a client can cause: what was wrong, in one line."""

    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Error, "description": text} for code, text in (
        (401, "No API key, or a wrong one"), (404, "No such job, style or preview"),
        (409, "The job is not in the state asked for"), (413, "The upload is too large"),
        (422, "Not a picture or a video, too many pixels or frames, a bad option or an "
              "unknown style"),
        (429, "Too many requests from this client"),
        (501, "A video sent to a service without the [video] extra"),
        (503, "The queue is full"))}
#: Seconds between looks at the store for a stream's new events.
EVENT_POLL = 0.2


@dataclass
class Settings:
    """What the service runs with (``impasto serve``'s options)."""

    data: DataDir
    api_keys: tuple[str, ...] = ()
    max_upload_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_frame_pixels: int = 3840 * 2160  # a video's decoded frame
    max_video_pixels: int = 1_000_000_000  # a video's frames x the pixels of each painted
    max_queue: int = 500
    rate_per_second: float = 5.0
    rate_burst: int = 40
    cors_origins: tuple[str, ...] = ()
    worker_pids: Any = None  # a callable: the running workers' process ids (None: unknown)


def create_app(settings: Settings) -> FastAPI:
    data = settings.data.create()
    local = threading.local()

    class _PerThread:
        """The store through one connection per thread (FastAPI runs plain endpoints in a
        thread pool; one SQLite connection must not carry two threads' transactions)."""

        def __getattr__(self, name: str) -> Any:
            if not hasattr(local, "store"):
                local.store = Store(data.db)
            return getattr(local.store, name)

    store: Any = _PerThread()
    Store(data.db).close()  # the schema, made once before the first request
    limiter = Limiter(settings.rate_per_second, settings.rate_burst)
    app = FastAPI(title="impasto", version=__version__, responses=ERRORS,
                  description="Neural style transfer as a service: submit a photo and a "
                              "style, follow the job, fetch the picture (with its signed "
                              "provenance).")
    app.state.settings = settings
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["*"], allow_headers=["*"])

    def check_key(given: str | None) -> str | None:
        """The caller's client name from its API key (None when the service needs none)."""
        if not settings.api_keys:
            return None
        if not given:
            raise HTTPException(401, "an API key is needed: send it as X-API-Key")
        for key in settings.api_keys:
            if hmac.compare_digest(given.encode(), key.encode()):
                return hashlib.sha256(key.encode()).hexdigest()[:16]
        raise HTTPException(401, "this API key is not valid")

    def header_key(x_api_key: str | None, authorization: str | None) -> str | None:
        return x_api_key or (authorization[7:] if authorization and
                             authorization.lower().startswith("bearer ") else None)

    def client(x_api_key: Annotated[str | None, Header()] = None,
               authorization: Annotated[str | None, Header()] = None
               ) -> str | None:
        """The key from the X-API-Key or Authorization: Bearer header."""
        return check_key(header_key(x_api_key, authorization))

    def reader(x_api_key: Annotated[str | None, Header()] = None,
               authorization: Annotated[str | None, Header()] = None,
               key: Annotated[str | None, Query(
                   max_length=500, description="The API key, for GET requests that cannot "
                   "send headers (a browser's EventSource, <img>, a download link); the "
                   "X-API-Key header is better where it can be sent.")] = None,
               ) -> str | None:
        """GET endpoints also take the key as ``?key=`` (never a request that changes
        anything); a key in a header wins."""
        return check_key(header_key(x_api_key, authorization) or key)

    Client = Annotated[str | None, Depends(client)]
    Reader = Annotated[str | None, Depends(reader)]

    def job_or_404(job_id: str, who: str | None) -> Job:
        """The job, when it is the caller's (with API keys, each key sees its own)."""
        job = store.get(job_id)
        if job is None or (settings.api_keys and job.client != who):
            raise HTTPException(404, f"no job {job_id}")
        return job

    @app.exception_handler(ImpastoError)
    async def impasto_error(_: Request, exc: ImpastoError) -> JSONResponse:
        return JSONResponse({"detail": str(exc).replace("\n", " ")}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's own 422s in the same shape as every other error: one line."""
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        return JSONResponse({"detail": "; ".join(problems) or "invalid request"},
                            status_code=422)

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        pids = settings.worker_pids() if settings.worker_pids else None
        return {"status": "ok", "version": __version__, "jobs_waiting": store.queued(),
                "workers": None if pids is None else len(pids), "worker_pids": pids}

    # ---------------------------------------------------------------------------- styles

    @app.get("/api/styles")
    def list_styles(_: Reader) -> dict[str, Any]:
        from impasto.styles import builtin_styles

        out = [{"id": s.name, "title": s.title, "artist": s.artist, "year": s.year,
                "licence": s.licence, "attribution": None, "builtin": True,
                "network": s.network, "image": f"/api/styles/{s.name}/image"}
               for s in builtin_styles()]
        out += [style_json(s) for s in store.styles()]
        return {"styles": out}

    @app.post("/api/styles", status_code=201)
    async def add_style(who: Client, request: Request,
                        image: Annotated[UploadFile, File(description="The style picture.")],
                        title: Annotated[str, Form(max_length=200)],
                        artist: Annotated[str | None, Form(max_length=200)] = None,
                        year: Annotated[str | None, Form(max_length=40)] = None,
                        licence: Annotated[str | None, Form(max_length=200)] = None,
                        attribution: Annotated[str | None, Form(max_length=500)] = None,
                        ) -> dict[str, Any]:
        check_rate(limiter, request, who)
        raw = await read_upload(image, settings.max_upload_bytes)
        picture = await run_in_threadpool(decode, raw, settings.max_pixels, "the style picture")
        name = f"{secrets.token_hex(8)}.{picture['ext']}"
        path = data.style_file(name)
        write_bytes_atomically(path, raw)
        style_id = store.add_style({"title": title.strip() or "untitled", "artist": artist,
                                    "year": year, "licence": licence,
                                    "attribution": attribution, "file": name,
                                    "sha256": hashlib.sha256(raw).hexdigest(),
                                    "width": picture["width"], "height": picture["height"]})
        style = store.style(style_id)
        assert style is not None
        return style_json(style)

    @app.get("/api/styles/{style_id}/image", response_class=FileResponse)
    def style_image(style_id: str, _: Reader) -> FileResponse:
        from impasto.styles import find_style

        builtin = find_style(style_id)
        if builtin is not None:
            return FileResponse(builtin.path)
        style = store.style(style_id)
        if style is None:
            raise HTTPException(404, f"no style {style_id}")
        return FileResponse(data.style_file(style["file"]))

    # ------------------------------------------------------------------------------ jobs

    @app.post("/api/jobs", status_code=202)
    async def submit(who: Client, request: Request,
                     content: Annotated[UploadFile, File(
                         description="The photo, or a video (MP4, MOV, WebM, MKV, an "
                                     "animated GIF or WebP).")],
                     method: Annotated[str, Form()] = "adain",
                     style_id: Annotated[list[str] | None, Form(
                         description="Built-in or uploaded style ids; repeatable.")] = None,
                     style: Annotated[list[UploadFile] | None, File(
                         description="Style pictures sent with the job.")] = None,
                     options: Annotated[str, Form(
                         description="The method's options as a JSON object; for a video "
                                     "also size, temporal, start, duration, crf and "
                                     "format.")] = "{}",
                     protect: Annotated[UploadFile | None, File(
                         description="A mask, white where the photo is to be kept (method "
                                     "optimize).")] = None,
                     region_style_id: Annotated[str | None, Form(
                         max_length=200, description="A second style (built-in or uploaded "
                         "id) for the region white in `region`; the rest of the picture takes "
                         "the main style. Methods adain, wct, optimize.")] = None,
                     region: Annotated[UploadFile | None, File(
                         description="A mask of the photo's shape, white where "
                                     "region_style_id goes.")] = None,
                     idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
                     ) -> JSONResponse:
        check_rate(limiter, request, who)
        raw = await read_upload(content, settings.max_upload_bytes)
        uploads = [await read_upload(f, settings.max_upload_bytes) for f in style or []]
        mask = None if protect is None else await read_upload(protect,
                                                             settings.max_upload_bytes)
        brushed = None if region is None else await read_upload(region,
                                                                settings.max_upload_bytes)
        # The checks (SQLite, decoding) in a worker thread: the event loop keeps answering.
        return await run_in_threadpool(accept, Submission(
            who, method, style_id or [], options, idempotency_key, raw, uploads, mask,
            region_style_id, brushed), settings, data, store)

    @app.get("/api/jobs")
    def list_jobs(who: Reader, limit: Annotated[int, Query(ge=1, le=200)] = 20,
                  offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> dict[str, Any]:
        jobs, total = store.list(limit=limit, offset=offset, client=who)
        return {"jobs": [job_json(j) for j in jobs], "total": total, "limit": limit,
                "offset": offset}

    loop_reader = Store(data.db)  # used on the event loop only: status answers wait for
    # no thread of the pool, which submissions may fill

    @app.get("/api/jobs/{job_id}")
    async def get_job(job_id: str, who: Reader) -> dict[str, Any]:
        job = loop_reader.get(job_id)
        if job is None or (settings.api_keys and job.client != who):
            raise HTTPException(404, f"no job {job_id}")
        return job_json(job)

    @app.post("/api/jobs/{job_id}/cancel", status_code=202)
    def cancel_job(job_id: str, who: Client) -> dict[str, Any]:
        job = job_or_404(job_id, who)
        if job.status in FINAL:
            raise HTTPException(409, f"job {job_id} is already {job.status}")
        cancelled = store.cancel(job_id)
        assert cancelled is not None
        return job_json(cancelled)

    @app.delete("/api/jobs/{job_id}", status_code=204)
    def delete_job(job_id: str, who: Client) -> Response:
        job = job_or_404(job_id, who)
        if job.status in ("queued", "running"):
            raise HTTPException(409, f"job {job_id} is {job.status}: cancel it first")
        store.delete(job_id)
        data.remove_job_files(job_id)
        return Response(status_code=204)

    @app.get("/api/jobs/{job_id}/result", response_class=FileResponse)
    def job_result(job_id: str, who: Reader,
                   format: Literal["png", "jpg", "webp", "tif"] | None = None) -> FileResponse:
        """The picture as PNG (as made), or converted to JPEG, WebP or TIFF: the plain record
        carried over and the C2PA manifest signed again for the new file. A video job's
        result is its video, in the format it was made in (byte ranges served, for players
        that seek)."""
        job = job_or_404(job_id, who)
        if job.status != "done" or not job.result:
            raise HTTPException(409, f"job {job_id} is {job.status}: no result yet")
        if job.kind == "video":
            made = job.request["video"]["format"]
            if format is not None:
                raise HTTPException(422, f"job {job_id} made a video ({made}): format= "
                                         "converts pictures only")
            return FileResponse(data.result(job_id, made), media_type=FORMATS[made],
                                filename=f"impasto-{job_id}.{made}")
        format = format or "png"
        path = data.result(job_id) if format == "png" else converted(data, job_id, format)
        return FileResponse(path, media_type=MEDIA_TYPES[format],
                            filename=f"impasto-{job_id}.{format}")

    @app.get("/api/jobs/{job_id}/previews/{number}", response_class=FileResponse)
    def job_preview(job_id: str, number: int, who: Reader) -> FileResponse:
        job_or_404(job_id, who)
        path = data.preview(job_id, number)
        if number < 1 or not path.is_file():
            raise HTTPException(404, f"no preview {number} of job {job_id}")
        return FileResponse(path, media_type="image/jpeg")

    @app.get("/api/jobs/{job_id}/events")
    async def job_events(job_id: str, who: Reader,
                         last_event_id: Annotated[str | None, Header()] = None,
                         ) -> StreamingResponse:
        job_or_404(job_id, who)
        try:
            after = int(last_event_id) if last_event_id else 0
        except ValueError:
            after = -1
        if not 0 <= after < 2**62:
            raise HTTPException(422, "Last-Event-ID must be an event's number")
        reader = Store(data.db)

        async def stream() -> AsyncIterator[bytes]:
            nonlocal after
            idle = 0.0
            try:
                yield b"retry: 1000\n\n"
                while True:
                    found = reader.events(job_id, after)
                    for seq, kind, payload in found:
                        after = seq
                        if kind == "preview":
                            payload = {**payload, "url": f"/api/jobs/{job_id}/previews/"
                                                         f"{payload['preview']}"}
                        body = json.dumps({"job": job_id, **payload})
                        yield f"id: {seq}\nevent: {kind}\ndata: {body}\n\n".encode()
                        if kind in FINAL:
                            return
                    if not found:
                        job = reader.get(job_id)
                        if job is None or job.status in FINAL:  # deleted, or all sent
                            return
                        idle += EVENT_POLL
                        if idle >= 15:
                            idle = 0.0
                            yield b": still here\n\n"
                    await asyncio.sleep(EVENT_POLL)
            finally:
                reader.close()

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})

    if STATIC.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")

        @app.get("/", include_in_schema=False)
        def page() -> FileResponse:
            return FileResponse(STATIC / "index.html")

    return app
