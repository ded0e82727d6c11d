"""A worker process of ``impasto serve``: claims jobs from the store, renders each through the
pipeline, streams progress and previews as events, writes the result atomically (signed),
and renews its lease while it works.

A worker killed mid-job leaves its lease to run out: the job is then claimed again (or failed
with the reason after ``max_attempts``). A result already written by a worker that died before
it could say so is taken as it is, so no job runs twice to completion.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from impasto.errors import Cancelled, ImpastoError
from impasto.events import CancelToken, Progress
from impasto.serve.files import DataDir
from impasto.serve.store import Job, Store

#: Seconds a claim lasts unless renewed (``$IMPASTO_SERVE_LEASE``); renewed every third of
#: it. A killed worker's job is claimed again this long after its last renewal.
LEASE = float(os.environ.get("IMPASTO_SERVE_LEASE", "15"))
#: Seconds between looks at an empty queue.
POLL = 0.25
#: Progress events at most this often (seconds); previews always.
EVENT_EVERY = 0.25
#: How much lower than the web process the workers run (os.nice).
NICE = 10
#: Steps between the optimiser's preview pictures when the job does not say.
PREVIEW_EVERY = 10


def run_worker(root: str, name: str, lanes: tuple[str, ...], device: str = "cpu",
               threads: int | None = None, max_attempts: int = 3) -> None:
    """The worker's loop, until SIGTERM/SIGINT, which stop it at once: a job it was running
    is neither finished nor marked, and goes back to the queue when its lease runs out."""
    import torch

    from impasto.pipeline import Pipeline

    if threads:
        torch.set_num_threads(threads)
    parent = os.getppid()
    _die_with_parent()
    # Below the web process: on a machine whose cores the workers fill, status requests and
    # submissions are still answered at once.
    with contextlib.suppress(OSError, AttributeError):
        os.nice(NICE)
    def leave(*_: Any) -> None:
        raise SystemExit(0)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, leave)
    data = DataDir(Path(root))
    store = Store(data.db, max_attempts=max_attempts, durable=False)
    pipeline = Pipeline(device)
    while os.getppid() == parent:  # a service killed takes its workers
        job = store.claim(name, lanes, LEASE)
        if job is None:
            time.sleep(POLL)
            continue
        work_on(job, store, pipeline, data, name)
    store.close()


def _die_with_parent() -> None:
    """On Linux, the kernel kills this worker when the service's process dies (kill -9
    included), so no orphan goes on taking jobs; elsewhere the loop checks its parent."""
    import ctypes
    import sys

    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # SET_PDEATHSIG


def work_on(job: Job, store: Store, pipeline: Any, data: DataDir, name: str) -> None:
    """Run one claimed job to its end (done, failed or cancelled)."""
    made = data.result(job.id, job.request["video"]["format"] if job.kind == "video"
                       else "png")
    if made.is_file():  # made by an earlier attempt that died before saying so
        store.finish(job.id, name, result=made.name, error=None)
        return
    token = CancelToken()
    beat = _Heartbeat(data.db, job.id, name, token)
    beat.start()
    try:
        if job.kind == "video":
            _video(job, store, pipeline, data, name, token)
        else:
            _picture(job, store, pipeline, data, name, token)
    finally:
        beat.stop()


def _picture(job: Job, store: Store, pipeline: Any, data: DataDir, name: str,
             token: CancelToken) -> None:
    try:
        request = data.request_for(job, store)
        if job.method == "optimize" and not request.options.preview_every:
            request = request.replace(options=request.options.replace(
                preview_every=PREVIEW_EVERY))  # the page shows the picture as it forms
        started = time.perf_counter()
        result = pipeline.render(request, callback=_Events(store, data, job, name),
                                 cancel=token)
        result.save(data.result(job.id))
        timings = {**{k: round(v, 4) for k, v in result.timings.items()},
                   "total_with_save": round(time.perf_counter() - started, 4)}
        store.finish(job.id, name, result=data.result(job.id).name, error=None,
                     timings=timings)
    except Cancelled:
        store.finish(job.id, name, result=None, error="cancelled", status="cancelled")
    except ImpastoError as exc:
        store.finish(job.id, name, result=None, error=str(exc).replace("\n", " "))
    except Exception as exc:  # a bug: the job fails with the reason, the worker goes on
        _internal_error(job, store, name, exc)


def _video(job: Job, store: Store, pipeline: Any, data: DataDir, name: str,
           token: CancelToken) -> None:
    """A video job, through the engine ``impasto video`` uses; its work folder kept only
    while a retry may go on with it (a worker killed), removed once the job has ended."""
    from impasto.serve import videos

    ended = True
    try:
        result, timings = videos.render(job, store, pipeline, data, name, token)
        store.finish(job.id, name, result=result, error=None, timings=timings)
    except Cancelled:  # asked for, or the lease lost (then the job is another worker's)
        ended = store.finish(job.id, name, result=None, error="cancelled", status="cancelled")
    except ImpastoError as exc:
        ended = store.finish(job.id, name, result=None, error=str(exc).replace("\n", " "))
    except Exception as exc:  # a bug: the job fails with the reason, the worker goes on
        ended = _internal_error(job, store, name, exc)
    if ended:
        videos.remove_work(data, job)


def _internal_error(job: Job, store: Store, name: str, exc: Exception) -> bool:
    traceback.print_exc()
    return store.finish(job.id, name, result=None,
                        error=f"internal error: {type(exc).__name__}: {exc}"[:500])


class _Heartbeat(threading.Thread):
    """Renews the lease; turns a cancel request (or a lost lease) into the run's cancel."""

    def __init__(self, db: Path, job_id: str, worker: str, token: CancelToken) -> None:
        super().__init__(daemon=True, name="impasto-heartbeat")
        self.db, self.job_id, self.worker, self.token = db, job_id, worker, token
        self._done = threading.Event()

    def run(self) -> None:
        store = Store(self.db, durable=False)
        try:
            while not self._done.wait(min(0.5, LEASE / 3)):
                if store.cancel_requested(self.job_id) or not store.heartbeat(
                        self.job_id, self.worker, LEASE):
                    self.token.cancel()
        finally:
            store.close()

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=5)


class _Events:
    """The pipeline's progress events as the job's events: progress at most every
    ``EVENT_EVERY`` s, each preview picture as a file and an event pointing to it."""

    def __init__(self, store: Store, data: DataDir, job: Job, worker: str) -> None:
        self.store, self.data, self.job, self.worker = store, data, job, worker
        self.last = 0.0
        self.previews = 0
        self.started = time.perf_counter()

    def __call__(self, event: Progress) -> None:
        now = time.perf_counter()
        elapsed = now - self.started
        fraction = max(0.0, min(1.0, event.work_done))
        left = elapsed * (1 - fraction) / fraction if fraction > 0.02 else None
        info = {"stage": event.stage, "step": event.step, "total_steps": event.total_steps,
                "scale": event.scale, "scales": event.n_scales, "fraction": round(fraction, 4),
                "elapsed": round(elapsed, 2),
                "seconds_left": None if left is None else round(left, 1)}
        if event.image is not None:
            self.previews += 1
            path = self.data.preview(self.job.id, self.previews)
            _save_preview(event.image, path)
            self.store.progress(self.job.id, self.worker, fraction,
                                {**info, "preview": self.previews}, kind="preview")
            self.last = now
        elif now - self.last >= EVENT_EVERY or event.stage == "done":
            self.store.progress(self.job.id, self.worker, fraction, info)
            self.last = now


def _save_preview(image: Any, path: Path) -> None:
    from impasto.image.save import save_image

    save_image(image.float().clamp(0, 1), path, quality=85)
