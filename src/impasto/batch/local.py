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
    """Render ``tasks`` in order (a trained network's consecutive items of one size in one
    pass, up to ``worker.stack``); ``report`` gets each item's row (done or failed) in the
    tasks' order, once its picture is on disk."""
    queue = iter(tasks)
    finished = 0
    reads: deque[tuple[Task, Future[Picture] | None]] = deque()
    writing: deque[tuple[Task, Future[dict[str, Any]]]] = deque()

    def read_next() -> None:
        task = next(queue, None)
        if task is not None:
            reads.append((task, None if task.error else reader.submit(worker.read, task)))

    def done(row: dict[str, Any]) -> Future[dict[str, Any]]:
        future: Future[dict[str, Any]] = Future()
        future.set_result(row)
        return future

    def finish_all() -> None:
        nonlocal finished
        while writing:
            task, future = writing.popleft()
            try:
                row = future.result()
            except Exception as exc:  # a write that failed fails its item only
                row = worker.row(task, "failed", describe_error(exc))
            report(row)
            finished += 1
            if finished % RELEASE_EVERY == 0:
                release_memory(collect=False)

    with ThreadPoolExecutor(1, thread_name_prefix="impasto-read") as reader, \
            ThreadPoolExecutor(1, thread_name_prefix="impasto-write") as writer:
        try:
            for _ in range(max(READ_AHEAD, worker.stack + 1)):
                read_next()
            while reads:
                group = [reads.popleft()]
                read_next()
                while reads and len(group) < worker.stack and worker.stackable(
                        group[0][0], reads[0][0]):
                    group.append(reads.popleft())
                    read_next()
                outcomes: list[tuple[Task, Future[dict[str, Any]] | None]] = []
                ready: list[tuple[Task, Picture]] = []
                for task, reading in group:
                    if reading is None:
                        outcomes.append((task, done(worker.row(task, "failed", task.error))))
                        continue
                    try:
                        ready.append((task, reading.result()))
                        outcomes.append((task, None))
                    except Exception as exc:  # an unreadable picture fails alone
                        outcomes.append((task, done(worker.row(task, "failed",
                                                               describe_error(exc)))))
                made = iter(worker.render_group(ready))
                finish_all()  # the last group's pictures, written while this one rendered
                for task, outcome in outcomes:
                    if outcome is None:
                        result = next(made)
                        outcome = (done(worker.row(task, "failed", describe_error(result)))
                                   if isinstance(result, BaseException)
                                   else writer.submit(worker.write, task, result))
                    writing.append((task, outcome))
            finish_all()
        except BaseException:
            # Interrupted: what is being written is finished and recorded (each picture is
            # whole), nothing read ahead is kept.
            for _, pending in reads:
                if pending is not None:
                    pending.cancel()
            finish_all()
            raise
