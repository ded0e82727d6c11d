"""What every trainer shares: the run's set-up (:class:`TrainingRun`), the loop
(:func:`training_loop`), its events and result, the training log and preview sheets.

A trainer subclasses :class:`TrainingRun`, prepares its data and loss networks, and provides
``_loss(step)``, ``_preview(step)`` and ``model_record(stats)``; :meth:`TrainingRun.run` trains
and writes the model. Each trainer names, as class attributes, the options a resumed run must
share with its checkpoint (``RESUME_KEYS``) and the ones whose history the model records
(``HISTORY_KEYS``); :mod:`impasto.training.checkpoint` applies them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from impasto._version import __version__
from impasto.errors import Cancelled, InvalidOption
from impasto.events import CancelToken
from impasto.image.io import to_pil
from impasto.image.sheet import contact_sheet
from impasto.models.registry import architecture
from impasto.models.store import save_model
from impasto.runtime import Runtime, choose_runtime
from impasto.training.checkpoint import (
    CHECKPOINT_STATE,
    RunStart,
    load_checkpoint,
    save_checkpoint,
    start_from,
)
from impasto.training.data import list_images

#: One JSON line per checkpoint: step, seconds so far, and the mean losses since the last line.
TRAINING_LOG = "training_log.jsonl"


@dataclass(frozen=True)
class TrainProgress:
    """One training step (or the end of the run)."""

    step: int
    total_steps: int
    loss: float
    losses: dict[str, float]
    elapsed: float
    #: Seconds per step over the steps of this session (for ETAs).
    step_seconds: float
    preview: Path | None = None
    checkpoint: bool = False


@dataclass
class TrainResult:
    folder: Path
    steps: int
    seconds: float
    losses: dict[str, float] = field(default_factory=dict)


@dataclass
class RunStats:
    """What :func:`training_loop` returns: the last step, the last losses, the seconds of
    this session and of every session, and the run's history through the last step."""

    step: int
    losses: dict[str, float]
    seconds: float
    total_seconds: float
    history: list[dict[str, Any]]


def on_device(module_or_tensor: Any, runtime: Runtime) -> Any:
    """``module_or_tensor`` moved to the runtime's device in its memory format."""
    fmt = runtime.memory_format
    if isinstance(module_or_tensor, torch.Tensor):
        return module_or_tensor.to(runtime.device).contiguous(memory_format=fmt)
    return module_or_tensor.to(runtime.device).to(memory_format=fmt)


def training_runtime(device: torch.device | str, precision: str) -> Runtime:
    """Where and how a trainer computes: the runtime policy's choice for ``training``."""
    return choose_runtime("training", device, precision=precision)


def prepare_run(data: str | os.PathLike[str], holdout: int, out: Path,
                resume: bool) -> tuple[list[Path], list[Path]]:
    """The training and held-out pictures of ``data``; refuses a run that would leave no
    training pictures, or overwrite a checkpoint without ``resume``."""
    files = list_images(data)
    if holdout >= len(files):
        raise InvalidOption(f"--holdout {holdout} leaves no training pictures "
                            f"({len(files)} found)")
    if not resume and (out / CHECKPOINT_STATE).exists():
        raise InvalidOption(f"{out} holds a checkpoint; pass --resume to continue it "
                            "or choose another folder")
    return files[:len(files) - holdout], files[len(files) - holdout:]


class TrainingRun:
    """A training run's shared state: options, runtime, pictures, the network, Adam, and where
    the run starts (step, lineage). Subclasses call :meth:`_prepare`, then :meth:`_build`."""

    #: Options a resumed run must share with its checkpoint.
    RESUME_KEYS: tuple[str, ...] = ()
    #: Options a resumed run may change; the model record keeps the steps trained at each
    #: value (``training.history``).
    HISTORY_KEYS: tuple[str, ...] = ("learning_rate",)

    cfg: Any
    net: torch.nn.Module
    previews: list[torch.Tensor]

    def _prepare(self, cfg: Any, data: str | os.PathLike[str],
                 output: str | os.PathLike[str], device: torch.device | str, resume: bool,
                 name: str | None) -> None:
        """Options, runtime and pictures (bad data or a checkpoint in the way raise here)."""
        self.cfg, self.out, self.data, self.name = cfg, Path(output), Path(data), name
        self.runtime = training_runtime(device, cfg.precision)
        self.dev, self.precision = self.runtime.device, self.runtime.precision
        self.files, self.held_out = prepare_run(data, cfg.holdout, self.out, resume)

    def _build(self, arch: str, params: dict[str, Any], resume: bool) -> None:
        """The network (seeded; from ``--init``'s weights, or from the checkpoint with
        ``resume``) and its Adam."""
        torch.manual_seed(self.cfg.seed)
        self.arch, self.params = architecture(arch), params
        self.net = on_device(self.arch.build(**params), self.runtime).train()
        given = start_from(self, resume)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=self.cfg.learning_rate)
        self.begin = load_checkpoint(self, given) if resume else RunStart(init=given)

    @property
    def start(self) -> int:
        """The step the run goes on from (0 for a new run)."""
        return self.begin.step

    @property
    def init(self) -> dict[str, str] | None:
        """The trained model the run started from (kept across resumes), or None."""
        return self.begin.init

    def _loss(self, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def _preview(self, step: int) -> Path:
        raise NotImplementedError

    def model_record(self, stats: RunStats) -> dict[str, Any]:
        """What the model's config.json says of it (see :meth:`model_info`)."""
        raise NotImplementedError

    def run(self, callback: Callable[[TrainProgress], None] | None = None,
            cancel: CancelToken | None = None, time_limit: float | None = None) -> TrainResult:
        """Train to ``config.steps``, or until ``time_limit`` seconds have passed; either way
        the model is written with the steps done."""
        stats = training_loop(self, callback, cancel, time_limit)
        save_model(self.out, self.net.eval(), self.arch.name, self.params,
                   self.model_record(stats))
        return TrainResult(folder=self.out, steps=stats.step, seconds=stats.seconds,
                           losses=stats.losses)

    def model_info(self, method: str, stats: RunStats, *,
                   licence_of: str = "the training pictures'", **training: Any
                   ) -> dict[str, Any]:
        """Name, software, method, the training options, data, lineage, steps, time and last
        losses, ``training`` extras, and a licence note."""
        return {
            "name": self.name or self.out.name,
            "software": f"impasto {__version__}",
            "method": method,
            "training": {**self.cfg.to_dict(), **training, "init": self.init,
                         "history": stats.history, "data": self.data.name,
                         "pictures": len(self.files),
                         "held_out": [p.name for p in self.held_out],
                         "steps_done": stats.step,
                         "seconds_this_session": round(stats.seconds, 1),
                         "seconds_total": round(stats.total_seconds, 1),
                         "precision": self.precision, "device": self.dev.type,
                         "final_losses": stats.losses},
            "licence": "The weights carry the terms of the pictures they were trained on: "
                       f"check {licence_of} licences before using them.",
        }


def training_loop(trainer: TrainingRun, callback: Callable[[TrainProgress], None] | None,
                  cancel: CancelToken | None, time_limit: float | None = None) -> RunStats:
    """The loop the trainers share: Adam steps on ``trainer._loss(step)``, previews,
    checkpoints with a line of the training log each, cancellation, an optional time limit
    (seconds of this session: the run stops after the step that passes it, checkpointed) and
    progress events. A resumed run takes the last losses and the seconds so far from its
    checkpoint, so a model finished by a resume records them."""
    cfg, net, opt, out, begin = trainer.cfg, trainer.net, trainer.opt, trainer.out, trainer.begin
    if time_limit is not None and time_limit <= 0:
        raise InvalidOption(f"time limit must be positive, got {time_limit:g} s")
    out.mkdir(parents=True, exist_ok=True)
    if trainer.dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop size: pick the fastest kernels once
    started = time.perf_counter()
    losses: dict[str, float] = dict(begin.losses)
    log = TrainingLog(out / TRAINING_LOG, begin.step)

    def save(at: int) -> None:
        seconds = begin.seconds + time.perf_counter() - started
        # The log line first: a crash before the checkpoint leaves a line that a resume drops.
        log.write(at, seconds)
        save_checkpoint(trainer, at, losses=losses, seconds=seconds,
                        history=begin.history_through(cfg, trainer.HISTORY_KEYS, at))

    step = begin.step
    for step in range(begin.step + 1, cfg.steps + 1):
        if cancel is not None and cancel.cancelled:
            save(step - 1)
            raise Cancelled(f"cancelled at step {step - 1}; --resume continues from there")
        loss, losses = trainer._loss(step - 1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        log.add(losses)
        preview = None
        if cfg.preview_every and trainer.previews and step % cfg.preview_every == 0:
            preview = trainer._preview(step)
            net.train()
        out_of_time = time_limit is not None and time.perf_counter() - started >= time_limit
        saved = step % cfg.checkpoint_every == 0 or step == cfg.steps or out_of_time
        if saved:
            save(step)
        if callback is not None:
            elapsed = time.perf_counter() - started
            callback(TrainProgress(step=step, total_steps=cfg.steps, loss=float(loss.detach()),
                                   losses=losses, elapsed=elapsed,
                                   step_seconds=elapsed / max(step - begin.step, 1),
                                   preview=preview, checkpoint=saved))
        if out_of_time:
            break
    seconds = time.perf_counter() - started
    return RunStats(step, losses, seconds, begin.seconds + seconds,
                    begin.history_through(cfg, trainer.HISTORY_KEYS, step))


class TrainingLog:
    """``training_log.jsonl``: a line per checkpoint with the mean of each loss over the steps
    since the line before, appended. A resumed run cuts the file after the last whole line at
    or before its checkpoint's step (dropping lines of steps it will train again, and a line
    cut short by a crash); a new run starts it afresh."""

    def __init__(self, path: Path, start: int) -> None:
        self.path = path
        self.sums: dict[str, float] = {}
        self.count = 0
        if start == 0:
            path.unlink(missing_ok=True)
        elif path.is_file():
            os.truncate(path, self._kept_bytes(start))

    def _kept_bytes(self, start: int) -> int:
        kept = 0
        with self.path.open("rb") as f:
            for line in f:
                try:
                    row = json.loads(line)
                    whole = line.endswith(b"\n") and int(row["step"]) <= start
                except (ValueError, KeyError, TypeError):
                    whole = False
                if not whole:
                    break
                kept += len(line)
        return kept

    def add(self, losses: dict[str, float]) -> None:
        for key, value in losses.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.count += 1

    def write(self, step: int, seconds: float) -> None:
        if not self.count:
            return
        row = {"step": step, "seconds": round(seconds, 1),
               **{k: round(v / self.count, 6) for k, v in self.sums.items()}}
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        self.sums, self.count = {}, 0


@torch.no_grad()
def write_preview(out: Path, previews: list[torch.Tensor], step: int,
                  render: Callable[[torch.Tensor], torch.Tensor]) -> Path:
    """A contact sheet of the held-out pictures and what ``render`` makes of them."""
    pictures, labels = [], []
    for p in previews:
        pictures += [to_pil(p), to_pil(render(p).clamp(0, 1).cpu())]
        labels += ["held-out photo", f"step {step}"]
    sheet = contact_sheet(pictures, labels, columns=2, cell_height=192)
    path = out / "previews" / f"step_{step:07d}.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.convert("RGB").save(path, quality=88)
    return path
