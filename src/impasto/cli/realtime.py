"""CLI commands of the feed-forward networks: stylize --model, train, models, export, webcam."""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from PIL import Image, UnidentifiedImageError
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from impasto.cli.options import config_from_cli, with_config_options
from impasto.config import DecoderConfig, EncoderConfig, TrainConfig
from impasto.errors import InvalidImage, InvalidOption
from impasto.image.io import check_output_path
from impasto.runtime.device import DeviceName, describe, resolve_device

Backend = Literal["torch", "onnx"]
#: Options of ``stylize`` that mean something with --model.
MODEL_OPTIONS = {"strength", "preserve_color", "size", "precision"}
PICTURES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}

err = Console(stderr=True)


@dataclass
class ModelJob:
    content: str
    output: Path
    model: str
    device: str = "auto"
    backend: str = "torch"
    channels_last: bool = False
    compile: bool = False
    json_out: bool = False
    bit_depth: int = 8
    max_pixels: int = 0


def run_model_job(job: ModelJob, config_values: dict[str, Any], given: set[str]) -> None:
    """``impasto stylize CONTENT -o OUT --model MODEL``: a file, a folder or stdin/stdout."""
    from impasto.feedforward import NetworkStylizer

    extra = sorted(given - MODEL_OPTIONS)
    if extra:
        flags = ", ".join("--" + n.replace("_", "-") for n in extra)
        raise InvalidOption(f"{flags} does not apply to --model (it takes --strength, "
                            "--preserve-color, --size and --precision)")
    cfg = config_from_cli(config_values)
    strength = cfg.strength if "strength" in given else 1.0
    size = cfg.size if "size" in given else None
    folder = _check_io(job)
    dev = resolve_device(job.device)
    runner = NetworkStylizer(job.model, device=str(dev), backend=job.backend,
                             precision=cfg.precision, channels_last=job.channels_last,
                             compile=job.compile,
                             **({"max_pixels": job.max_pixels} if job.max_pixels else {}))
    options = {"strength": strength, "preserve_color": cfg.preserve_color, "size": size}
    _render_all(job, folder, lambda source: runner(source, **options), describe(dev))


@dataclass
class ArbitraryJob:
    content: str
    styles: list[str]
    output: Path
    method: str
    decoders: list[str]
    masks: list[str]
    device: str = "auto"
    json_out: bool = False
    bit_depth: int = 8
    max_pixels: int = 0
    encoder: str = "vgg19"


#: Options of ``stylize`` that mean something with --method adain / wct.
ARBITRARY_OPTIONS = {"strength", "preserve_color", "size", "precision", "style_blend"}


def run_arbitrary_job(job: ArbitraryJob, config_values: dict[str, Any], given: set[str]
                      ) -> None:
    """``impasto stylize CONTENT STYLE... -o OUT --method adain|wct``: a file, a folder or
    stdin/stdout, with any style pictures."""
    from impasto.arbitrary.pictures import ArbitraryPictures
    from impasto.image.masks import parse_mask_spec

    extra = sorted(given - ARBITRARY_OPTIONS)
    if extra:
        flags = ", ".join("--" + n.replace("_", "-") for n in extra)
        raise InvalidOption(f"{flags} does not apply to --method {job.method} (it takes "
                            "--strength, --style-blend, --mask, --preserve-color, --size and "
                            "--precision)")
    cfg = config_from_cli(config_values)
    strength = cfg.strength if "strength" in given else 1.0
    size = cfg.size if "size" in given else None
    blend = cfg.style_blend
    if blend is not None and len(blend) != len(job.styles):
        raise InvalidOption(f"--style-blend has {len(blend)} weights for {len(job.styles)} "
                            "styles")
    masks = [parse_mask_spec(text, len(job.styles)) for text in job.masks]
    for path, _ in masks:
        if not Path(path).is_file():
            raise InvalidImage(f"mask not found: {path}")
    folder = _check_io(job)
    if folder and masks:
        raise InvalidOption("--mask needs one CONTENT picture, not a folder")
    dev = resolve_device(job.device)
    runner = ArbitraryPictures(job.method, device=str(dev), decoders=job.decoders,
                               precision=cfg.precision, max_pixels=job.max_pixels or None,
                               encoder=job.encoder)
    prepared = runner.prepare(job.styles)
    options = {"strength": strength, "style_blend": blend, "masks": masks,
               "preserve_color": cfg.preserve_color, "size": size}
    _render_all(job, folder, lambda source: runner(source, prepared, **options), describe(dev))


def _check_io(job: Any) -> bool:
    """Check CONTENT and -o before any work; return whether CONTENT is a folder."""
    source = Path(job.content)
    if job.content != "-" and not source.exists():
        raise InvalidImage(f"content not found: {job.content}")
    folder = job.content != "-" and source.is_dir()
    if folder:
        if job.output.suffix.lower() in PICTURES or (job.output.exists()
                                                     and not job.output.is_dir()):
            raise InvalidOption(f"CONTENT is a folder, so -o must be a folder, not {job.output}")
        job.output.mkdir(parents=True, exist_ok=True)
        check_output_path(job.output / "x.png", bit_depth=job.bit_depth)
    elif str(job.output) != "-":
        check_output_path(job.output, bit_depth=job.bit_depth)
    return folder


def _render_all(job: Any, folder: bool, render: Any, where: str) -> None:
    """Render a file, every picture of a folder, or stdin to stdout (or to -o)."""
    source = Path(job.content)
    if job.content == "-":
        result = render(_read_stdin(job.max_pixels))
        if str(job.output) == "-":
            buffer = io.BytesIO()
            result.image.save(buffer, format="PNG")
            sys.stdout.buffer.write(buffer.getvalue())
            sys.stdout.buffer.flush()
        else:
            written = result.save(job.output, bit_depth=job.bit_depth)
            _report(job, [{"output": str(written), "seconds": result.seconds}])
        return
    if not folder:
        result = render(source)
        written = result.save(job.output, bit_depth=job.bit_depth)
        _report(job, [{"output": str(written), "size": list(result.image.size),
                       "seconds": round(result.seconds, 4)}])
        return
    files = sorted(p for p in source.iterdir() if p.suffix.lower() in PICTURES and p.is_file())
    if not files:
        raise InvalidImage(f"no pictures in {source}")
    rows, failed = [], 0
    for path in files:
        try:
            result = render(path)
            written = result.save(job.output / (path.stem + ".png"), bit_depth=job.bit_depth)
        except InvalidImage as exc:
            failed += 1
            print(f"impasto: skipped {path.name}: {exc}", file=sys.stderr)
            continue
        rows.append({"input": str(path), "output": str(written),
                     "size": list(result.image.size), "seconds": round(result.seconds, 4)})
        if not job.json_out:
            err.print(f"wrote {written} ({result.image.size[0]}x{result.image.size[1]}) in "
                      f"{result.seconds * 1000:.0f} ms", highlight=False)
    if job.json_out:
        print(json.dumps({"outputs": rows, "failed": failed, "device": where}))
    if failed:
        raise InvalidImage(f"{failed} of {len(files)} pictures could not be read; the others "
                           f"are in {job.output}")


def _read_stdin(max_pixels: int) -> Image.Image:
    from impasto.image.io import open_image

    data = sys.stdin.buffer.read()
    if not data:
        raise InvalidImage("no picture on standard input")
    try:
        picture = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidImage(f"standard input is not a picture ({exc})") from None
    return open_image(picture, name="content", **({"max_pixels": max_pixels} if max_pixels
                                                   else {}))


def _report(job: Any, rows: list[dict[str, Any]]) -> None:
    if job.json_out:
        print(json.dumps(rows[0]))
    else:
        row = rows[0]
        err.print(f"wrote {row['output']} in {row['seconds'] * 1000:.0f} ms", highlight=False)


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


def register_commands(app: typer.Typer) -> None:
    app.command()(train)
    app.command("train-decoder")(train_decoder)
    app.command("train-encoder")(train_encoder)
    app.command()(models)
    app.command()(export)
    app.command()(webcam)


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


def models(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
           ) -> None:
    """List the registered architectures and the trained models the package ships."""
    from impasto.models import architectures, load_model, shipped_models

    archs = [{"name": a.name, "kind": a.kind, "stride": a.stride,
              "parameters": sum(p.numel() for p in a.build().parameters()),
              "options": a.defaults()} for a in architectures().values()]
    shipped = []
    for name, path in shipped_models().items():
        model = load_model(path)
        shipped.append({"name": name, "arch": model.arch, "kind": model.kind,
                        "params": model.params, "sha256": model.sha256,
                        "style": model.config.get("style"), "path": str(path)})
    if json_out:
        print(json.dumps({"architectures": archs, "models": shipped}, indent=2))
        return
    table = Table("architecture", "parameters", "stride", "options", title="architectures")
    for a in archs:
        table.add_row(a["name"], f"{a['parameters']:,}", str(a["stride"]),
                      ", ".join(f"{k}={v}" for k, v in a["options"].items()))
    Console().print(table)
    table = Table("model", "architecture", "style / layer", "sha256", title="shipped models")
    for m in shipped:
        what = ((m["style"] or {}).get("file", "") or m["params"].get("layer", "")
                or ("relu4_1 (encoder)" if m["kind"] == "encoder" else ""))
        table.add_row(m["name"], m["arch"], str(what), m["sha256"][:16])
    Console().print(table if shipped else "no trained models ship with this version")


def export(
    model: Annotated[str, typer.Argument(help="Model folder (or a shipped model's name).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="ONNX file to write.")],
    encoder: Annotated[str | None, typer.Option(
        "--encoder", help="For a decoder distilled on an encoder that does not ship: that "
                          "encoder's folder.")] = None,
) -> None:
    """Export a trained network to ONNX (dynamic height and width); an AdaIN decoder exports
    the whole AdaIN path, with its encoder."""
    from impasto.export import export_model
    from impasto.models import load_encoder, load_model

    written = export_model(load_model(model), output,
                          encoder=load_encoder(encoder) if encoder else None)
    err.print(f"wrote {written}", highlight=False)


def webcam(
    model: Annotated[list[str], typer.Option("--model", help="Model folder(s); keys 1-9 "
                                                             "switch between them.")],
    camera: Annotated[int, typer.Option("--camera", help="Camera index.")] = 0,
    size: Annotated[int, typer.Option("--size", help="Long side of the frames processed.")
                    ] = 640,
    device: Annotated[DeviceName, typer.Option("--device")] = "auto",
    backend: Annotated[Backend, typer.Option("--backend")] = "torch",
) -> None:
    """Show the camera live, stylised. Keys: 1-9 model, +/- strength, c colour, q quit."""
    from impasto.webcam import run_webcam

    run_webcam(model, camera=camera, size=size, device=str(resolve_device(device)),
               backend=backend)
