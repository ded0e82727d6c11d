"""``impasto serve``: the job service and web page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from impasto.errors import InvalidOption
from impasto.runtime.device import DeviceName, resolve_device

err = Console(stderr=True)


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (another than "
                                                     "localhost needs --api-key).")
                    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port.")] = 8000,
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="Jobs, uploads and results (default: the user's data folder, "
                           "~/.local/share/impasto/serve).")] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", help="Worker processes (default: 2 on the CPU, the last for quick jobs "
                          "only; on a GPU, --gpu-jobs per GPU).")] = None,
    api_key: Annotated[list[str] | None, typer.Option(
        "--api-key", help="A key clients must send (X-API-Key; the web page asks for it); "
                          "repeatable; or $IMPASTO_API_KEYS, comma-separated.")] = None,
    device: Annotated[DeviceName, typer.Option(
        "--device", help="Where the workers render (auto: a CUDA GPU when there is one).")
    ] = "auto",
    gpu_jobs: Annotated[int | None, typer.Option(
        "--gpu-jobs", help="Jobs run at once on each GPU: one long job (optimisation, video) "
                           "and quick jobs beside it (default: from the GPU's memory, 1 to "
                           "4).")] = None,
    retention_days: Annotated[float, typer.Option(
        "--retention-days", help="Finished jobs and their pictures are removed after this "
                                 "many days.")] = 7.0,
    max_upload_mb: Annotated[int, typer.Option(
        "--max-upload-mb", help="Largest upload accepted.")] = 25,
    max_video_mpixels: Annotated[int, typer.Option(
        "--max-video-mpixels", help="Largest video job: its frames times the pixels of "
                                    "each frame painted, in millions.")] = 1000,
) -> None:
    """Serve the web page and the job API (REST, server-sent events) on this machine."""
    try:
        from impasto.serve.service import ServeOptions
        from impasto.serve.service import serve as run
    except ImportError as exc:
        raise InvalidOption(f"impasto serve needs its extra: pip install 'impasto[serve]' "
                            f"({exc.name} is missing)") from None

    options = ServeOptions(host, port, data_dir, workers, tuple(api_key or ()),
                           str(resolve_device(device)), retention_days, max_upload_mb,
                           gpu_jobs=gpu_jobs, max_video_mpixels=max_video_mpixels)

    def ready(url: str, plan: str) -> None:
        err.print(f"impasto serve: {url}/ ({plan}; API docs at {url}/docs)", highlight=False)

    try:
        run(options, ready=ready)
    except KeyboardInterrupt:  # Ctrl-C is how a service is stopped: not an error
        err.print("impasto serve: stopped; every job not finished stays queued for the next "
                  "start", highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(serve)
