"""Rich progress bar and preview writer: two callbacks on the pipeline's progress events;
and what the command is doing, for the one line Ctrl-C prints."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from impasto.events import Progress as ProgressEvent
from impasto.image.save import save_image


@dataclass
class RunState:
    """What the command is doing now: the picture, the optimiser's step, the last preview
    written and the outputs written so far; :meth:`interrupted` says it in one line."""

    what: str | None = None
    step: int | None = None
    total: int | None = None
    preview: Path | None = None
    written: list[Path] = field(default_factory=list)

    def clear(self) -> None:
        self.what, self.step, self.total, self.preview = None, None, None, None
        self.written = []

    def begin(self, what: str) -> None:
        self.what, self.step, self.total = what, None, None

    def interrupted(self) -> str:
        """The line Ctrl-C prints: what was stopped, at which step, what was (not) written."""
        line = "impasto: interrupted"
        if self.what:
            line += f" {self.what}"
        if self.step is not None:
            line += f" at step {self.step}" + (f" of {self.total}" if self.total else "")
        if self.written:
            folder = self.written[-1].parent
            line += (f"; {len(self.written)} finished picture"
                     f"{'s were' if len(self.written) > 1 else ' was'} written to {folder}, "
                     f"nothing else")
        else:
            line += "; no output written"
        if self.preview is not None:
            line += f"; the last preview is {self.preview}"
        return line


#: The running command's state (one command at a time; ``main`` clears it before each).
RUN = RunState()


class Interrupted(Exception):
    """Ctrl-C inside a command, carried past typer (which would turn it into a silent exit
    code 130) to ``main``, which says :meth:`RunState.interrupted`."""


def interruptible(command: Any) -> Any:
    """``command`` (a click group) with each subcommand's Ctrl-C raised as
    :class:`Interrupted`; a command that says its own line (``video``) catches
    KeyboardInterrupt first."""
    for sub in getattr(command, "commands", {}).values():
        if sub.callback is not None:
            sub.callback = _raising_interrupted(sub.callback)
    return command


def _raising_interrupted(callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except KeyboardInterrupt:
            raise Interrupted from None

    return run


class ProgressBar:
    """Shows scale, step, loss and an ETA weighted by each step's pixel count."""

    def __init__(self, console: Console, header: str | None = None) -> None:
        self.console = console
        self.header = header
        self.started = False
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task = self.progress.add_task("starting", total=1.0, detail="")

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.progress.stop()

    def __call__(self, event: ProgressEvent) -> None:
        if event.stage != "step":  # start and done carry no step to show
            return
        # Started on the first step, so that bad input fails before anything is drawn.
        if not self.started:
            if self.header:
                self.console.print(self.header)
            self.progress.start()
            self.started = True
        RUN.step, RUN.total = event.step, event.total_steps
        parts = " ".join(f"{k} {v:.3g}" for k, v in event.losses.items())
        self.progress.update(
            self.task,
            completed=event.work_done,
            description=f"scale {event.scale}/{event.n_scales} {event.width}x{event.height}",
            detail=f"step {event.step}/{event.total_steps} loss {event.loss:.4g} ({parts})",
        )


class PreviewWriter:
    """Writes the snapshots carried by progress events into a folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.written: list[Path] = []

    def __call__(self, event: ProgressEvent) -> None:
        if event.image is None:
            return
        path = self.folder / f"step_{event.step:05d}.png"
        self.written.append(save_image(event.image, path))
        RUN.preview = path


class Fanout:
    def __init__(self, *callbacks: object) -> None:
        self.callbacks = [c for c in callbacks if c is not None]

    def __call__(self, event: ProgressEvent) -> None:
        for callback in self.callbacks:
            callback(event)  # type: ignore[operator]
