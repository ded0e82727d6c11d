"""The Ray engine: the same tasks through Ray Data on a Ray cluster (or a local Ray instance
started here). The tasks go in as a dataset of rows holding paths, never pixels, so the
object store carries a few hundred bytes an item; ``map_batches`` runs them on a pool of
actors, each of which loads its pipeline once, renders, and writes the picture to the output
folder (which every node must reach); the rows come back to the driver, which records them
as they arrive. An actor that dies is restarted and its items run again."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impasto.batch.local import RELEASE_EVERY
from impasto.batch.plan import Task
from impasto.errors import InvalidOption
from impasto.provenance.credentials import Credentials
from impasto.runtime.memory import release_memory

#: Seconds to wait for a cluster's address to answer.
CONNECT_SECONDS = 5.0


@dataclass(frozen=True)
class RaySettings:
    """Where and how wide: the cluster's address (None: start a local instance), the number
    of actors (None: one a CPU, or a GPU, of the cluster), the CPUs and GPUs each one holds
    (GPUs: None, one each where the cluster has GPUs)."""

    address: str | None = None
    actors: int | None = None
    cpus_per_actor: float = 1.0
    gpus_per_actor: float | None = None


class _Renderer:
    """A Ray Data actor: one :class:`~impasto.batch.work.Worker` for its life."""

    def __init__(self, device: str, folder: str, threads: int,
                 credentials: Credentials | None, **settings: Any) -> None:
        import torch

        from impasto.batch.work import Worker
        from impasto.provenance.signing import ManifestSigner

        torch.set_num_threads(max(1, threads))
        signer = ManifestSigner(credentials) if credentials is not None else False
        self.worker = Worker(device, Path(folder), provenance=signer, **settings)
        self.finished = 0

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import json

        rows = [{k: batch[k][i] for k in batch} for i in range(len(batch["key"]))]
        done = self.worker.run_many([Task.from_row(_listed(row)) for row in rows])
        self.finished += len(done)
        if self.finished % RELEASE_EVERY < len(done):
            release_memory(collect=False)
        return {"row": [json.dumps(r, sort_keys=True) for r in done]}


def _listed(row: dict[str, Any]) -> dict[str, Any]:
    """A row as Ray gave it back (arrays where lists went in)."""
    return {**row, "styles": [str(s) for s in row["styles"]]}


def check_ray(settings: RaySettings) -> None:
    """Before any work: Ray is installed, and the cluster's address (if given) answers."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise InvalidOption("--engine ray needs Ray: pip install 'impasto[ray]'") from None
    _check_reachable(settings.address or os.environ.get("RAY_ADDRESS") or None)


def start(settings: RaySettings) -> bool:
    """Connect to the cluster (or start a local instance); whether this call started it."""
    import ray

    if ray.is_initialized():
        return False
    address = settings.address or os.environ.get("RAY_ADDRESS") or None
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.ERROR,
                 log_to_driver=False, configure_logging=True)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise InvalidOption(f"cannot reach the Ray cluster at {address}: "
                            f"{str(exc).splitlines()[0]}") from None
    return True


def _check_reachable(address: str | None) -> None:
    """A cluster address (``host:port`` or ``ray://host:port``) that answers no connection
    is one clear error at once (Ray itself waits minutes for it); ``auto`` and none are
    Ray's to find."""
    if not address or address == "auto":
        return
    host, _, port = address.split("://", 1)[-1].rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        raise InvalidOption(f"--ray-address is auto, HOST:PORT or ray://HOST:PORT, not "
                            f"{address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as exc:
        raise InvalidOption(f"cannot reach the Ray cluster at {address}: "
                            f"{exc.strerror or exc}") from None


def run_ray(tasks: list[Task], settings: RaySettings, *, device: str, folder: Path,
            bit_depth: int, scores: bool, credentials: Credentials | None, max_pixels: int,
            report: Callable[[dict[str, Any]], None], stack: int | None = None) -> None:
    """Render ``tasks`` on the cluster; ``report`` gets each item's row as it arrives (in
    any order)."""
    import json

    import ray
    import ray.data

    started = start(settings)
    try:
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # its notes are not ours
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        resources = ray.cluster_resources()
        gpus = settings.gpus_per_actor
        if gpus is None:
            gpus = 1.0 if resources.get("GPU", 0) >= 1 and device in ("auto", "cuda") else 0.0
        per_actor = settings.cpus_per_actor
        actors = settings.actors or max(1, int(resources.get("GPU", 0) // gpus if gpus
                                               else resources.get("CPU", 1) // per_actor))
        actors = min(actors, max(1, len(tasks)))
        dataset = ray.data.from_items([t.to_row() for t in tasks],
                                      override_num_blocks=max(1, len(tasks)))
        mapped = dataset.map_batches(
            # Ray Data restarts an actor that dies and retries its items (max_restarts and
            # max_task_retries default to -1 for actor pools).
            _Renderer, fn_constructor_kwargs={
                "device": ("cuda" if gpus else "cpu") if device == "auto" else device,
                "folder": str(folder), "bit_depth": bit_depth, "scores": scores,
                "credentials": credentials, "max_pixels": max_pixels, "stack": stack,
                "threads": max(1, int(per_actor))},
            # An actor's batch is one pass of a network where pictures are stacked.
            batch_size=stack or (8 if gpus else 1),
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=per_actor, num_gpus=gpus)
        for batch in mapped.iter_batches(batch_size=1, batch_format="numpy",
                                         prefetch_batches=0):
            for text in batch["row"]:
                report(json.loads(str(text)))
    finally:
        if started:
            ray.shutdown()
