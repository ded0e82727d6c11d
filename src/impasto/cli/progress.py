"""Rich progress bar and preview writer: two callbacks on the pipeline's progress events."""

from __future__ import annotations

from pathlib import Path

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


class Fanout:
    def __init__(self, *callbacks: object) -> None:
        self.callbacks = [c for c in callbacks if c is not None]

    def __call__(self, event: ProgressEvent) -> None:
        for callback in self.callbacks:
            callback(event)  # type: ignore[operator]
