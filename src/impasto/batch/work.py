"""One batch item's work in three stages (read, render, write), the same on every engine:
the local engine overlaps them across items, each Ray actor runs them in turn. Whatever an
item raises becomes its failed row; nothing it does stops the batch."""

from __future__ import annotations

import os
import time
import traceback
from pathlib import Path
from typing import Any

from impasto.batch.ledger import file_sha256
from impasto.batch.plan import Task
from impasto.errors import ImpastoError, InvalidOption
from impasto.image.io import DEFAULT_MAX_PIXELS
from impasto.pipeline import Pipeline, Request
from impasto.pipeline.inputs import Picture, fitted, read_picture
from impasto.provenance.signing import ManifestSigner, resolve_signer
from impasto.result import Result
from impasto.runtime.device import is_cpu

#: The methods that fit the content to ``size`` before one pass (the optimiser resizes per
#: scale itself).
ONE_PASS = ("network", "adain", "wct")


def describe_error(exc: BaseException) -> str:
    """One line: the message of an impasto error; type and message (and where) of any
    other."""
    if isinstance(exc, ImpastoError | OSError):
        return str(exc).replace("\n", " ")
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    at = f" at {Path(where[0].filename).name}:{where[0].lineno}" if where else ""
    return f"{type(exc).__name__}: {exc}{at}".replace("\n", " ")


class Worker:
    """Renders tasks with one :class:`~impasto.pipeline.Pipeline` (networks, decoders and
    style statistics loaded once), writing each picture with its provenance."""

    def __init__(self, device: str, folder: Path, *, bit_depth: int = 8, scores: bool = False,
                 provenance: bool | ManifestSigner = True,
                 max_pixels: int = DEFAULT_MAX_PIXELS, stack: int | None = None) -> None:
        self.pipeline = Pipeline(device)
        #: Pictures of one trained network in one pass (None: the device's default).
        self.stack = stack or default_stack(device)
        self.folder = folder
        self.bit_depth = bit_depth
        self.scores = scores
        self.signer = resolve_signer(provenance)
        self.max_pixels = max_pixels

    def _request(self, task: Task, content: Any) -> Request:
        return Request(content, task.styles, method=task.method, options=task.options,
                       scores=self.scores, max_pixels=self.max_pixels)

    def read(self, task: Task) -> Picture:
        """The content picture, decoded and, for the one-pass methods, at its working size
        (the local engine reads the next item's while this one renders)."""
        picture = read_picture(task.content, "content", self.max_pixels)
        if task.method in ONE_PASS:
            return fitted(picture, task.options.get("size"), self.max_pixels)
        return picture

    def render(self, task: Task, picture: Picture) -> Result:
        return self.pipeline.render(self._request(task, picture))

    def stackable(self, first: Task, other: Task) -> bool:
        """Whether ``other`` can share ``first``'s pass of the network."""
        return (self.stack > 1 and not self.scores and first.method == "network"
                and other.method == "network" and other.options == first.options)

    def render_group(self, group: list[tuple[Task, Picture]]) -> list[Result | BaseException]:
        """Each task's result (or what it raised), in order; the pictures of one size in one
        pass. A stack that fails is rendered again one by one, so one bad picture fails
        alone."""
        out: dict[int, Result | BaseException] = {}
        sizes: dict[tuple[int, int], list[tuple[Task, Picture]]] = {}
        for task, picture in group:
            sizes.setdefault(picture.size, []).append((task, picture))
        for part in sizes.values():
            if len(part) > 1:
                try:
                    made = self.pipeline.render_stack(
                        [self._request(task, picture) for task, picture in part])
                except Exception:  # rendered again one by one below
                    pass
                else:
                    out.update({task.index: r for (task, _), r in zip(part, made, strict=True)})
                    continue
            for task, picture in part:
                try:
                    out[task.index] = self.render(task, picture)
                except Exception as exc:  # one item's failure never stops the batch
                    out[task.index] = exc
        return [out[task.index] for task, _ in group]

    def write(self, task: Task, result: Result) -> dict[str, Any]:
        """Save the picture (atomically, signed) and make its row."""
        started = time.perf_counter()
        written = result.save(task.output, bit_depth=self.bit_depth,
                              provenance=self.signer if self.signer is not None else False)
        timings = {k: round(v, 4) for k, v in result.timings.items()}
        timings["write"] = round(time.perf_counter() - started, 4)
        row = self.row(task, "done")
        row.update(output_sha256=file_sha256(written), seconds=timings,
                   size=list(result.image.size), options=_plain(result.options.to_dict()),
                   runtime={"device": result.device, "precision": result.precision,
                            "backend": result.runtime.backend})
        if result.scores is not None:
            row["scores"] = result.scores.to_dict()
        return row

    def row(self, task: Task, status: str, error: str | None = None) -> dict[str, Any]:
        return task_row(task, self.folder, status, error)

    def run_many(self, tasks: list[Task]) -> list[dict[str, Any]]:
        """Every stage of ``tasks`` in turn (a Ray actor's batch), a trained network's
        pictures of one size in one pass; each task's failure is its row."""
        if self.stack <= 1 or len(tasks) == 1:
            return [self(task) for task in tasks]
        rows: dict[int, dict[str, Any]] = {}
        ready: list[tuple[Task, Picture]] = []
        for task in tasks:
            try:
                if task.error is not None:
                    raise InvalidOption(task.error)
                ready.append((task, self.read(task)))
            except Exception as exc:  # one item's failure never stops the batch
                rows[task.index] = self.row(task, "failed", describe_error(exc))
        for (task, _), result in zip(ready, self.render_group(ready), strict=True):
            try:
                if isinstance(result, BaseException):
                    raise result
                rows[task.index] = self.write(task, result)
            except Exception as exc:
                rows[task.index] = self.row(task, "failed", describe_error(exc))
        return [rows[task.index] for task in tasks]

    def __call__(self, task: Task) -> dict[str, Any]:
        """All three stages of one task; its failure is its row."""
        if task.error is not None:
            return self.row(task, "failed", task.error)
        try:
            return self.write(task, self.render(task, self.read(task)))
        except Exception as exc:  # one item's failure never stops the batch
            return self.row(task, "failed", describe_error(exc))


def default_stack(device: Any) -> int:
    """Pictures per pass of a trained network: one on a CPU (stacking four was up to twice
    as slow a picture there: benchmarks/batch.py --mode stacking), eight on a GPU."""
    return 1 if is_cpu(device) else 8


def task_row(task: Task, folder: Path, status: str, error: str | None = None
             ) -> dict[str, Any]:
    """What ``results.jsonl`` says of a task before its timings and output hash: the item,
    its inputs with their hashes, the options, the output (relative to ``folder``)."""
    row: dict[str, Any] = {"key": task.key, "item": task.index, "origin": task.origin,
                           "status": status, "method": task.method,
                           "content": task.inputs["content"], "styles": task.inputs["styles"],
                           "options": _plain(task.options),
                           "output": os.path.relpath(task.output, folder)}
    if error is not None:
        row["error"] = error
    return row


def _plain(options: dict[str, Any]) -> dict[str, Any]:
    """Options as JSON values (paths as text, tuples as lists)."""
    out: dict[str, Any] = {}
    for name, value in options.items():
        if isinstance(value, tuple):
            value = [str(v) if isinstance(v, os.PathLike) else v for v in value]
        elif isinstance(value, os.PathLike):
            value = str(value)
        out[name] = value
    return out
