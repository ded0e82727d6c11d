"""The local engine: one process, one pipeline, the stages of consecutive items overlapped
(the next content is read and decoded, and the last picture encoded, signed and written,
while this one renders), each stage's queue bounded so memory stays flat however many items
there are."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from impasto.batch.plan import Task
from impasto.batch.work import Worker, describe_error
from impasto.pipeline.inputs import Picture
from impasto.runtime.memory import release_memory

#: Contents read ahead of the one rendering.
READ_AHEAD = 2
#: Items between two returns of freed heap memory to the system (about 5 ms each).
RELEASE_EVERY = 20


def run_local(tasks: Iterable[Task], worker: Worker,
              report: Callable[[dict[str, Any]], None]) -> None:
    """Render ``tasks`` in order; ``report`` gets each item's row (done or failed) in the
    tasks' order, once its picture is on disk."""
    queue = iter(tasks)
    finished = 0
    reads: deque[tuple[Task, Future[Picture] | None]] = deque()
    writing: tuple[Task, Future[dict[str, Any]]] | None = None

    def read_next() -> None:
        task = next(queue, None)
        if task is not None:
            reads.append((task, None if task.error else reader.submit(worker.read, task)))

    def finish(pending: tuple[Task, Future[dict[str, Any]]]) -> None:
        task, future = pending
        try:
            row = future.result()
        except Exception as exc:  # a write that failed fails its item only
            row = worker.row(task, "failed", describe_error(exc))
        report(row)
        nonlocal finished
        finished += 1
        if finished % RELEASE_EVERY == 0:
            release_memory(collect=False)

    with ThreadPoolExecutor(1, thread_name_prefix="impasto-read") as reader, \
            ThreadPoolExecutor(1, thread_name_prefix="impasto-write") as writer:
        try:
            for _ in range(READ_AHEAD):
                read_next()
            while reads:
                task, reading = reads.popleft()
                read_next()
                if reading is None:
                    row: dict[str, Any] | None = worker.row(task, "failed", task.error)
                    future = None
                else:
                    try:
                        result = worker.render(task, reading.result())
                    except Exception as exc:  # one item's failure never stops the batch
                        row, future = worker.row(task, "failed", describe_error(exc)), None
                    else:
                        row, future = None, writer.submit(worker.write, task, result)
                if writing is not None:
                    finish(writing)
                    writing = None
                if future is not None:
                    writing = (task, future)
                else:
                    assert row is not None
                    report(row)
            if writing is not None:
                finish(writing)
                writing = None
        except BaseException:
            # Interrupted: what is being written is finished and recorded (the picture is
            # whole), nothing read ahead is kept.
            for _, pending in reads:
                if pending is not None:
                    pending.cancel()
            if writing is not None:
                finish(writing)
            raise
