"""``impasto train``, ``train-decoder`` and ``train-encoder``: the three trainers, each with a
progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from impasto.cli.options import config_from_cli, with_config_options
from impasto.config import DecoderConfig, EncoderConfig, TrainConfig
from impasto.errors import InvalidImage
from impasto.runtime.device import DeviceName, describe, resolve_device

err = Console(stderr=True)


# Options every trainer takes.
ModelOutOpt = Annotated[Path, typer.Option("-o", "--output", help="Model folder to write.")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue from the checkpoint in the "
                                                          "output folder.")]
TrainDeviceOpt = Annotated[DeviceName, typer.Option("--device", help="Where to train.")]
NameOpt = Annotated[str | None, typer.Option("--name", help="Model name (default: the "
                                                            "folder's).")]
MaxMinutesOpt = Annotated[float | None, typer.Option(
    "--max-minutes", min=0.01, help="Stop after this many minutes (checkpointed; the model is "
                                    "written with the steps done; --resume goes on).")]


@with_config_options(cls=TrainConfig)
def train(
    style: Annotated[str, typer.Argument(help="Style picture.")],
    data: Annotated[Path, typer.Option("--data", help="Folder of training photos.")],
    output: ModelOutOpt,
    resume: ResumeOpt = False,
    device: TrainDeviceOpt = "auto",
    name: NameOpt = None,
    max_minutes: MaxMinutesOpt = None,
    **config: Any,
) -> None:
    """Train a feed-forward network for one STYLE (Johnson et al. 2016) on photos of --data."""
    from impasto.training.trainer import Trainer

    cfg = config_from_cli(config, cls=TrainConfig)
    if not Path(style).is_file():
        raise InvalidImage(f"style picture not found: {style}")
    dev = resolve_device(device)
    trainer = Trainer(style, data, output, cfg, device=dev, resume=resume, name=name)
    err.print(f"training {cfg.arch} on {describe(dev)}: {cfg.steps} steps of {cfg.batch} x "
              f"{cfg.size} px", highlight=False)
    _train_with_bar(trainer, max_minutes)


@with_config_options(cls=DecoderConfig)
def train_decoder(
    data: Annotated[Path, typer.Option("--data", help="Folder of training pictures.")],
    output: ModelOutOpt,
    styles: Annotated[Path | None, typer.Option(
        "--styles", help="Folder of style pictures: train an AdaIN decoder (content and style "
                         "losses); without it the decoder learns to invert the encoder "
                         "(WCT).")] = None,
    resume: ResumeOpt = False,
    device: TrainDeviceOpt = "auto",
    name: NameOpt = None,
    max_minutes: MaxMinutesOpt = None,
    **config: Any,
) -> None:
    """Train a decoder for arbitrary-style transfer (--method adain / wct) on --data."""
    from impasto.training.decoder import DecoderTrainer

    cfg = config_from_cli(config, cls=DecoderConfig)
    dev = resolve_device(device)
    trainer = DecoderTrainer(data, output, cfg, styles=styles, device=dev, resume=resume,
                             name=name)
    kind = {"adain": "an AdaIN", "distillation": "a distilled AdaIN",
            "inversion": "an inverting"}[trainer.mode]
    err.print(f"training {kind} decoder for {cfg.layer} on {describe(dev)}: "
              f"{cfg.steps} steps of {cfg.batch} x {cfg.size} px", highlight=False)
    _train_with_bar(trainer, max_minutes)


@with_config_options(cls=EncoderConfig)
def train_encoder(
    data: Annotated[Path, typer.Option("--data", help="Folder of training pictures (photos "
                                                      "and paintings: it encodes both).")],
    output: ModelOutOpt,
    resume: ResumeOpt = False,
    device: TrainDeviceOpt = "auto",
    name: NameOpt = None,
    max_minutes: MaxMinutesOpt = None,
    **config: Any,
) -> None:
    """Distil VGG-19 (up to relu4_1) into a thin encoder for fast AdaIN (--encoder)."""
    from impasto.training.encoder import EncoderTrainer

    cfg = config_from_cli(config, cls=EncoderConfig)
    dev = resolve_device(device)
    trainer = EncoderTrainer(data, output, cfg, device=dev, resume=resume, name=name)
    err.print(f"distilling VGG-19 into a width-{cfg.width} encoder on {describe(dev)}: "
              f"{cfg.steps} steps of {cfg.batch} x {cfg.size} px", highlight=False)
    _train_with_bar(trainer, max_minutes)


def _train_with_bar(trainer: Any, max_minutes: float | None) -> None:
    from impasto.training.trainer import TrainProgress

    steps = trainer.cfg.steps
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
               TextColumn("{task.fields[info]}"), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task("train", total=steps, info="")

        limit = None if max_minutes is None else max_minutes * 60.0

        def on_step(event: TrainProgress) -> None:
            info = f"loss {event.loss:.3f} ({event.step_seconds:.2f} s/step)"
            if event.preview is not None:
                info += f" preview {event.preview.name}"
            total = steps
            if limit is not None and event.step_seconds > 0:
                # The bar (and its ETA) ends where the time limit will stop the run.
                left = max(limit - event.elapsed, 0.0) / event.step_seconds
                total = min(steps, event.step + round(left))
            bar.update(task, completed=event.step, total=total, info=info)

        result = trainer.run(on_step, time_limit=limit)
    err.print(f"wrote {result.folder} ({result.steps} steps, {result.seconds:.0f} s)",
              highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command("train-decoder")(train_decoder)
    app.command("train-encoder")(train_encoder)
