"""A batch from start to end: lock the output folder, plan the items, skip what an earlier
run finished (same inputs and options, output unchanged), run the rest on the local engine
or on Ray, record every item as it finishes, and rewrite ``results.jsonl`` in order."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from impasto.batch.items import Item
from impasto.batch.ledger import Ledger
from impasto.batch.local import run_local
from impasto.batch.plan import Task, plan, refuse_inputs_as_outputs
from impasto.batch.ray_engine import RaySettings, check_ray, run_ray
from impasto.batch.work import Worker, task_row
from impasto.errors import InvalidOption, OutputError
from impasto.image.io import DEFAULT_MAX_PIXELS
from impasto.image.save import SUPPORTED_OUTPUTS, check_output_path
from impasto.provenance.signing import ManifestSigner, resolve_signer


@dataclass
class Summary:
    """How a batch went: counts, the failed items' rows, the seconds it took."""

    items: int = 0
    done: int = 0
    skipped: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    results: Path | None = None
    #: Items made from the first frame of an animated picture.
    animated: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True)
class BatchOptions:
    """How a batch runs: the output format and bit depth, scores, provenance (True: the
    default signer; False: none; a signer), the device, the engine (``local`` or ``ray``)
    and Ray's settings, ``force`` (redo what is done)."""

    ext: str = "png"
    bit_depth: int = 8
    scores: bool = False
    provenance: bool | ManifestSigner = True
    device: str = "cpu"
    engine: str = "local"
    ray: RaySettings = field(default_factory=RaySettings)
    force: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    #: A trained network's pictures of one size per pass (None: 1 on a CPU, 8 on a GPU).
    stack: int | None = None


def prepare(items: list[Item], folder: Path, options: BatchOptions) -> list[Task]:
    """Check the output folder and plan the tasks, before any work: an output folder that
    cannot be written, an output that is an input, or items that all fail the same way are
    one error."""
    if f".{options.ext}" not in SUPPORTED_OUTPUTS:
        wanted = ", ".join(sorted(e.lstrip(".") for e in SUPPORTED_OUTPUTS))
        raise InvalidOption(f"--format must be one of {wanted}, not {options.ext}")
    if options.stack is not None and not 1 <= options.stack <= 256:
        raise InvalidOption(f"--stack must be between 1 and 256, not {options.stack}")
    if options.engine not in ("local", "ray"):
        raise InvalidOption(f"--engine must be local or ray, not {options.engine}")
    if options.engine == "ray":
        check_ray(options.ray)
    if folder.exists() and not folder.is_dir():
        raise InvalidOption(f"-o must be a folder, and {folder} is a file")
    if folder.suffix.lower() in SUPPORTED_OUTPUTS:
        raise InvalidOption(f"-o is the output folder, not a picture: {folder}")
    check_output_path(folder / f"x.{options.ext}", bit_depth=options.bit_depth)
    if not os.access(folder, os.W_OK):
        raise OutputError(f"cannot write to the output folder {folder}")
    tasks = plan(items, folder, ext=options.ext, bit_depth=options.bit_depth,
                 scores=options.scores, provenance=options.provenance is not False)
    errors = {t.error for t in tasks}
    if tasks and None not in errors and len(errors) == 1:
        raise InvalidOption(f"every item fails before any work: {errors.pop()}")
    refuse_inputs_as_outputs(tasks)
    return tasks


def _work_group(task: Task) -> tuple[str, tuple[str, ...], str]:
    return (task.method, task.styles, json.dumps(task.options, sort_keys=True, default=str))


def run_batch(items: list[Item], folder: Path, options: BatchOptions, *,
              progress: Callable[[dict[str, Any], int, int], None] | None = None,
              planned: Callable[[int, int], None] | None = None) -> Summary:
    """Make every item's picture in ``folder``. ``planned(to_do, skipped)`` is called once
    the plan is known; ``progress(row, finished, to_do)`` after each item."""
    started = time.perf_counter()
    folder = folder.expanduser()
    tasks = prepare(items, folder, options)
    signer = resolve_signer(options.provenance)
    summary = Summary(items=len(tasks))
    with Ledger(folder) as ledger:
        summary.results = ledger.path
        todo = [t for t in tasks if options.force or ledger.done(t.key) is None]
        summary.skipped = len(tasks) - len(todo)
        if planned is not None:
            planned(len(todo), summary.skipped)

        def report(row: dict[str, Any]) -> None:
            ledger.append(row)
            if row["status"] == "done":
                summary.done += 1
                summary.animated += int(row["content"].get("frames", 1) > 1)
            else:
                summary.failed.append(row)
            if progress is not None:
                progress(row, summary.done + len(summary.failed), len(todo))

        for task in todo:  # items that cannot run fail at once, on the driver
            if task.error is not None:
                report(task_row(task, folder, "failed", task.error))
        # Run the items of one method, style and options together (a stable sort: their own
        # order otherwise), so each style's statistics and each model are made once however
        # many styles the batch has; results.jsonl keeps the batch's order.
        todo = sorted((t for t in todo if t.error is None), key=_work_group)
        try:
            if options.engine == "ray" and todo:
                run_ray(todo, options.ray, device=options.device, folder=folder,
                        bit_depth=options.bit_depth, scores=options.scores,
                        credentials=None if signer is None else signer.credentials,
                        max_pixels=options.max_pixels, report=report, stack=options.stack)
            elif todo:
                worker = Worker(options.device, folder, bit_depth=options.bit_depth,
                                scores=options.scores,
                                provenance=signer if signer is not None else False,
                                max_pixels=options.max_pixels, stack=options.stack)
                run_local(todo, worker, report)
        finally:
            # Whatever happened, results.jsonl is left whole and in the batch's order.
            ledger.compact([t.key for t in tasks])
    summary.seconds = time.perf_counter() - started
    return summary
