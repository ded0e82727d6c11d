"""``impasto serve``: the web process (uvicorn) and its worker processes, started together.

Workers are separate processes (``spawn``): a worker that crashes or is killed never takes
the API down; the supervisor starts a new one, and the job it held goes back to the queue
when its lease runs out. How many workers, on which device and taking which jobs is
:func:`impasto.serve.scheduling.plan_workers`'s choice: on the CPU, with two or more workers
the last one takes only quick jobs (AdaIN, WCT, networks), so they never wait behind a long
optimisation or a video; on a GPU, one worker per GPU takes any job and quick-only workers
run beside it. The supervisor also applies the retention setting (finished jobs and their
files removed after ``retention_days``).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import multiprocessing
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impasto.errors import InvalidOption
from impasto.serve.files import DataDir
from impasto.serve.scheduling import Slot, describe, gpu_facts, plan_workers
from impasto.serve.store import Store

API_KEYS_ENV = "IMPASTO_API_KEYS"


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path | None = None
    workers: int | None = None  # None: chosen by plan_workers (2 on the CPU)
    api_keys: tuple[str, ...] = ()
    device: str = "cpu"
    retention_days: float = 7.0
    max_upload_mb: int = 25
    max_attempts: int = 3
    gpu_jobs: int | None = None  # jobs at once per GPU (None: from its memory)
    max_video_mpixels: int = 1000  # a video's frames x pixels, in millions


def is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Supervisor:
    """Keeps ``workers`` worker processes running; applies the retention setting."""

    def __init__(self, data: DataDir, options: ServeOptions,
                 slots: list[Slot] | None = None) -> None:
        self.data = data
        self.options = options
        self.slots = slots or plan_for(options)
        self.context = multiprocessing.get_context("spawn")
        self.processes: list[Any] = [None] * len(self.slots)
        self.restarts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True,
                                        name="impasto-supervisor")

    def start(self) -> None:
        for i in range(len(self.slots)):
            self._spawn(i)
        self._thread.start()

    def _spawn(self, index: int) -> None:
        from impasto.serve.worker import run_worker

        slot = self.slots[index]
        process = self.context.Process(
            target=run_worker, name=f"impasto-worker-{index}", daemon=True,
            args=(str(self.data.root), f"w{index}-{os.getpid()}-{self.restarts}",
                  slot.lanes, slot.device, slot.threads, self.options.max_attempts))
        process.start()
        self.processes[index] = process

    def pids(self) -> list[int]:
        """The process ids of the workers running now."""
        return [p.pid for p in self.processes if p is not None and p.is_alive()]

    def _watch(self) -> None:
        store = Store(self.data.db, max_attempts=self.options.max_attempts)
        last_sweep = 0.0
        try:
            while not self._stop.wait(0.5):
                for i, process in enumerate(self.processes):
                    if process is not None and not process.is_alive():
                        self.restarts += 1
                        self._spawn(i)
                if time.monotonic() - last_sweep > 600:
                    last_sweep = time.monotonic()
                    self.sweep(store)
        finally:
            store.close()

    def sweep(self, store: Store) -> int:
        """Remove the finished jobs older than the retention setting, with their files."""
        before = time.time() - self.options.retention_days * 86400
        gone = 0
        for job in store.expired(before):
            if store.delete(job.id) is not None:
                self.data.remove_job_files(job.id)
                gone += 1
        return gone

    def stop(self) -> None:
        self._stop.set()
        for process in self.processes:
            if process is not None and process.is_alive():
                process.terminate()
        for process in self.processes:
            if process is not None:
                process.join(timeout=10)


def plan_for(options: ServeOptions) -> list[Slot]:
    """The worker processes for ``options`` on this machine (its GPUs and cores looked up)."""
    gpus, memory = gpu_facts(options.device)
    return plan_workers(options.device, gpus=gpus, gpu_memory_gib=memory,
                        workers=options.workers, gpu_jobs=options.gpu_jobs,
                        cpus=os.cpu_count() or 2)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (for tests, scripts and benchmarks that start a service)."""
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_until_up(base: str, headers: dict[str, str] | None = None,
                  timeout: float = 60.0) -> None:
    """Wait until the service at ``base`` answers ``/api/health`` (a process just started)."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            request = urllib.request.Request(f"{base}/api/health", headers=headers or {})
            with urllib.request.urlopen(request, timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"the service at {base} did not answer in {timeout:g} s")
        time.sleep(0.1)


def _check_port(host: str, port: int) -> None:
    """Refuse, before any worker starts, a port that is taken or an address not on this
    machine (uvicorn would only log it after the start)."""
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as exc:
        raise InvalidOption(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def check_options(options: ServeOptions) -> ServeOptions:
    keys = options.api_keys or tuple(
        k.strip() for k in os.environ.get(API_KEYS_ENV, "").split(",") if k.strip())
    if not is_local(options.host) and not keys:
        raise InvalidOption(f"--host {options.host} is reachable from other machines: give "
                            f"--api-key (or ${API_KEYS_ENV}) so that only your clients can "
                            "use it")
    if options.workers is not None and options.workers < 1:
        raise InvalidOption("--workers must be at least 1")
    if options.gpu_jobs is not None and options.gpu_jobs < 1:
        raise InvalidOption("--gpu-jobs must be at least 1")
    if options.max_video_mpixels < 1:
        raise InvalidOption("--max-video-mpixels must be at least 1")
    if not 0 < options.port < 65536:
        raise InvalidOption(f"--port must be 1 to 65535, not {options.port}")
    if options.max_upload_mb < 1:
        raise InvalidOption("--max-upload-mb must be at least 1")
    return dataclasses.replace(options, api_keys=keys)


def serve(options: ServeOptions, *, ready: Any = None) -> None:
    """Run the service until interrupted (``ready`` is called with the bound URL and the
    workers' plan in words)."""
    import uvicorn

    from impasto.serve.app import Settings, create_app
    from impasto.serve.files import default_data_dir

    options = check_options(options)
    _check_port(options.host, options.port)
    root = Path(options.data_dir) if options.data_dir else default_data_dir()
    try:
        data = DataDir(root).create()
        Store(data.db).close()
    except OSError as exc:
        raise InvalidOption(f"cannot use the data folder {root}: {exc.strerror or exc}"
                            ) from None
    supervisor = Supervisor(data, options)
    supervisor.start()
    settings = Settings(data, api_keys=options.api_keys,
                        max_upload_bytes=options.max_upload_mb * 1024 * 1024,
                        max_video_pixels=options.max_video_mpixels * 1_000_000,
                        worker_pids=supervisor.pids)
    app = create_app(settings)
    try:
        config = uvicorn.Config(app, host=options.host, port=options.port,
                                log_level="warning", access_log=False)
        server = uvicorn.Server(config)
        if ready is not None:
            ready(f"http://{options.host}:{options.port}", describe(supervisor.slots))
        server.run()
    finally:
        supervisor.stop()
