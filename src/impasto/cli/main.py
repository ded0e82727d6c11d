"""The ``impasto`` command: stylize, score, demo, info.

Every :class:`~impasto.errors.ImpastoError` and every usage error becomes one line on stderr and
exit code 2; no traceback reaches the user.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from impasto._version import __version__
from impasto.cli import batch as batch_commands
from impasto.cli import models as model_commands
from impasto.cli import provenance as provenance_commands
from impasto.cli import serve as serve_commands
from impasto.cli import styles as style_commands
from impasto.cli import training as training_commands
from impasto.cli import video as video_commands
from impasto.cli.options import config_from_cli, parse_sweep, with_config_options
from impasto.cli.progress import RUN, Interrupted, ProgressBar, interruptible
from impasto.cli.provenance import (
    NoProvenanceOpt,
    SignCertOpt,
    SignKeyOpt,
    StyleAttributionOpt,
    StyleLicenceOpt,
    after_writing,
    signer_from_cli,
    style_terms_from_cli,
)
from impasto.cli.render import Job, run_job, typed_values
from impasto.errors import Cancelled, ImpastoError, InvalidOption
from impasto.image.guard import refuse_overwriting_inputs
from impasto.image.io import DEFAULT_MAX_PIXELS
from impasto.image.masks import DEFAULT_PROTECT_WEIGHT
from impasto.image.save import check_output_path, save_image
from impasto.provenance import METADATA_KEY
from impasto.runtime.device import DeviceName, resolve_device
from impasto.runtime.policy import Backend

#: The methods; "gatys" is the optimiser's older name, still accepted.
Method = Literal["optimize", "network", "adain", "wct", "gatys"]

app = typer.Typer(
    name="impasto",
    help="Neural style transfer: render a picture in the style of another.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
err = Console(stderr=True)
out = Console()

DeviceOpt = Annotated[DeviceName, typer.Option(
    "--device", help="Where to compute; auto picks cuda, mps, then cpu.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


def _version(value: bool) -> None:
    if value:
        print(f"impasto {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Neural style transfer: render a picture in the style of another."""


OutputOpt = Annotated[Path, typer.Option("-o", "--output", help="Output picture (.png, .jpg, "
                                         ".webp, .tif); its folder is created; never one of "
                                         "the inputs (refused, even through a link).")]
PreviewDirOpt = Annotated[Path | None, typer.Option(
    "--preview-dir", help="Folder for preview snapshots (with --preview-every).")]
BitDepthOpt = Annotated[int, typer.Option("--bit-depth", help="8, or 16 for PNG/TIFF.")]
MaxPixelsOpt = Annotated[int, typer.Option(
    "--max-pixels", help="Largest input picture accepted, in pixels.")]
TileableOpt = Annotated[bool, typer.Option(
    "--tileable", help="Seamless in both axes (textiles, wallpaper, game textures).")]
TileableXOpt = Annotated[bool, typer.Option(
    "--tileable-x", help="Seamless horizontally only (360-degree panoramas).")]


@app.command()
@with_config_options
def stylize(
    ctx: typer.Context,
    content: Annotated[str, typer.Argument(
        help="Content picture, a folder of pictures (then -o is a folder), or - (stdin to "
             "stdout).")],
    styles: Annotated[list[str] | None, typer.Argument(
        help="One or more style pictures, or built-in styles by name (impasto styles lists "
             "them); none with --model.")] = None,
    *,
    output: OutputOpt,
    device: DeviceOpt = "auto",
    json_out: JsonOpt = False,
    preview_dir: PreviewDirOpt = None,
    bit_depth: BitDepthOpt = 8,
    max_pixels: MaxPixelsOpt = DEFAULT_MAX_PIXELS,
    mask: Annotated[list[str] | None, typer.Option(
        "--mask", help="MASK.png=N: style N (from 1) only where MASK is white; repeatable.")
    ] = None,
    protect: Annotated[list[str] | None, typer.Option(
        "--protect", help=f"MASK.png[=WEIGHT]: multiply the content weight by WEIGHT "
        f"(default {DEFAULT_PROTECT_WEIGHT:g}) where MASK is white; repeatable.")] = None,
    protect_faces: Annotated[float | None, typer.Option(
        "--protect-faces", help=f"--protect-faces[=WEIGHT]: find faces and protect them "
        f"(default weight {DEFAULT_PROTECT_WEIGHT:g}).")] = None,
    tileable: TileableOpt = False,
    tileable_x: TileableXOpt = False,
    model: Annotated[str | None, typer.Option(
        "--model", help="A trained network (folder, or a shipped model's name): render in "
                        "milliseconds instead of optimising (--method network).")] = None,
    backend: Annotated[Backend, typer.Option(
        "--backend", help="With --model: auto (the fastest here: onnxruntime on CPUs where "
                          "installed), torch, or onnx (onnxruntime, CPU).")] = "auto",
    channels_last: Annotated[bool, typer.Option(
        "--channels-last", help="With --model: channels-last memory layout.")] = False,
    compile_net: Annotated[bool, typer.Option(
        "--compile", help="With --model: torch.compile the network.")] = False,
    method: Annotated[Method | None, typer.Option(
        "--method", help="optimize (best quality; the default), network (a trained network, "
                         "with --model), adain / wct (one pass with any style picture); "
                         "gatys is optimize's older name.")] = None,
    decoder: Annotated[list[str] | None, typer.Option(
        "--decoder", help="With --method adain / wct: a decoder folder to use instead of the "
                          "shipped one for its layer; repeatable.")] = None,
    encoder: Annotated[str, typer.Option(
        "--encoder", help="With --method adain: vgg19, or a distilled encoder (student-relu4_1 "
                          "ships: about 7x faster on CPUs, softer pictures).")] = "vgg19",
    sign_cert: SignCertOpt = None,
    sign_key: SignKeyOpt = None,
    no_provenance: NoProvenanceOpt = False,
    style_licence: StyleLicenceOpt = None,
    style_attribution: StyleAttributionOpt = None,
    **config: Any,
) -> None:
    """Render CONTENT in the style of one or more STYLE pictures: optimise the picture (Gatys
    et al.; best quality), or in one pass with any style (--method adain / wct), or with a
    trained network (--model). CONTENT may be a folder (then -o is a folder) or - (stdin).
    An animated CONTENT (GIF, APNG, WebP) is painted from its first frame (impasto video
    paints every frame); a picture thinner than 16 px at --size is refused with the size
    that works; Ctrl-C stops with one line and writes nothing half-done."""
    given = {name for name in config
             if getattr(ctx.get_parameter_source(name), "name", "DEFAULT") != "DEFAULT"}
    values = typed_values(config, given)
    if method == "gatys":
        err.print("impasto: note: --method gatys is now --method optimize (the old name still "
                  "works)", highlight=False)
    chosen = method or ("network" if model is not None else "optimize")
    if tileable or tileable_x:
        if tileable and tileable_x:
            raise InvalidOption("choose one of --tileable and --tileable-x")
        if chosen not in ("optimize", "gatys"):
            raise InvalidOption(f"--tileable goes with --method optimize, not {chosen}")
        values["wrap"] = "both" if tileable else "x"
    if model is not None:
        if chosen != "network":
            raise InvalidOption(f"--model and --method {chosen} do not go together")
        values["model"] = model
    # Options of one method only: each options object says whether it takes them.
    for name, value, unset in (("backend", backend, "auto"),
                               ("channels_last", channels_last, False),
                               ("compile", compile_net, False),
                               ("decoders", tuple(decoder or ()), ()),
                               ("encoder", encoder, "vgg19")):
        if value != unset:
            values[name] = value
    run_job(Job(content, list(styles or []), output, chosen, values, device, json_out,
                preview_dir, bit_depth, max_pixels, mask or [], protect or [], protect_faces,
                provenance=signer_from_cli(no_provenance, sign_cert, sign_key),
                style_terms=style_terms_from_cli(style_licence, style_attribution)))


@app.command()
@with_config_options
def texture(
    styles: Annotated[list[str], typer.Argument(
        help="One or more style pictures or built-in style names.")],
    output: OutputOpt,
    device: DeviceOpt = "auto",
    json_out: JsonOpt = False,
    preview_dir: PreviewDirOpt = None,
    bit_depth: BitDepthOpt = 8,
    max_pixels: MaxPixelsOpt = DEFAULT_MAX_PIXELS,
    tileable: TileableOpt = False,
    tileable_x: TileableXOpt = False,
    sign_cert: SignCertOpt = None,
    sign_key: SignKeyOpt = None,
    no_provenance: NoProvenanceOpt = False,
    style_licence: StyleLicenceOpt = None,
    style_attribution: StyleAttributionOpt = None,
    **config: Any,
) -> None:
    """Synthesise a SIZE x SIZE texture from STYLE pictures alone (no content)."""
    values = config_from_cli(config).to_dict()
    if tileable or tileable_x:
        if tileable and tileable_x:
            raise InvalidOption("choose one of --tileable and --tileable-x")
        values["wrap"] = "both" if tileable else "x"
    run_job(Job(None, styles, output, "optimize", values, device, json_out, preview_dir,
                bit_depth, max_pixels,
                provenance=signer_from_cli(no_provenance, sign_cert, sign_key),
                style_terms=style_terms_from_cli(style_licence, style_attribution)))


@app.command()
@with_config_options(skip=frozenset({"size", "iterations"}))
def sweep(
    content: Annotated[str, typer.Argument(help="Content picture.")],
    styles: Annotated[list[str], typer.Argument(
        help="One or more style pictures or built-in style names.")],
    param: Annotated[str, typer.Option(
        "--param", help="NAME=V1,V2,...: the option to sweep, e.g. strength=0.2,0.5,0.8.")],
    output: OutputOpt,
    size: Annotated[int, typer.Option("--size", help="Long side of each cell.")] = 256,
    iterations: Annotated[int | None, typer.Option(
        "--iterations", help="Steps per cell (default: as a stylize run).")] = None,
    device: DeviceOpt = "auto",
    max_pixels: MaxPixelsOpt = DEFAULT_MAX_PIXELS,
    sign_cert: SignCertOpt = None,
    sign_key: SignKeyOpt = None,
    no_provenance: NoProvenanceOpt = False,
    **config: Any,
) -> None:
    """Render a labelled contact sheet over one option's values, at low resolution, to pick
    settings before a long high-resolution run."""
    from impasto.image.sheet import contact_sheet

    name, values = parse_sweep(param)
    base = config_from_cli({**config, "size": size, "iterations": iterations})
    cfgs = [base.replace(**{name: value}) for value in values]  # validates every value first
    if not cfgs:
        raise InvalidOption("--param needs at least one value")
    refuse_overwriting_inputs(output, [content, *styles])
    check_output_path(output)
    signer = signer_from_cli(no_provenance, sign_cert, sign_key)
    dev = resolve_device(device)
    from impasto import api

    stylizer = api.Stylizer(dev, max_pixels=max_pixels)
    pictures, labels, results = [], [], []
    for i, cfg in enumerate(cfgs, start=1):
        label = f"{name.replace('_', '-')}={getattr(cfg, name)}"
        RUN.begin(f"the sweep at {label} (cell {i} of {len(cfgs)})")
        with ProgressBar(err, header=f"[{i}/{len(cfgs)}] {label}") as bar:
            result = stylizer.stylize(content, styles, cfg, callback=bar)
        pictures.append(result.image)
        results.append(result)
        labels.append(label)
    sheet = contact_sheet(pictures, labels)
    first = results[0].record
    record = {"software": f"impasto {__version__}", "method": first["method"],
              "sweep": name, "values": values, "options": base.to_dict(),
              "content": first["content"], "styles": first["styles"],
              "cells": [result.record for result in results]}
    written = save_sheet(sheet, output, record, signer)
    after_writing(signer, None)
    err.print(f"wrote {written} ({len(cfgs)} cells)")


def save_sheet(sheet: Any, output: Path, record: dict[str, Any], signer: Any) -> Path:
    """A contact sheet with its record, signed unless ``signer`` is False."""
    if signer is False:
        return save_image(sheet, output)
    text = json.dumps(record, default=str)
    return save_image(sheet, output, metadata={METADATA_KEY: text},
                      sign=signer.for_record(json.loads(text)))


@app.command()
def score(
    content: Annotated[str, typer.Argument(help="Content picture.")],
    style: Annotated[str, typer.Argument(help="Style picture.")],
    outputs: Annotated[list[str], typer.Argument(help="Stylised pictures to score.")],
    device: DeviceOpt = "cpu",
    json_out: JsonOpt = False,
) -> None:
    """Style, content, structure (SSIM) and colour distances of stylised pictures."""
    from impasto import api

    dev = resolve_device(device)
    rows = []
    for path in outputs:
        rows.append({"output": path, **api.score(content, style, path, device=dev).to_dict()})
    if json_out:
        print(json.dumps(rows if len(rows) > 1 else rows[0]))
        return
    table = Table("output", "style distance", "content distance", "SSIM", "colour distance")
    for row in rows:
        table.add_row(row["output"], f"{row['style_distance']:.4f}",
                      f"{row['content_distance']:.4f}", f"{row['ssim']:.4f}",
                      f"{row['color_distance']:.4f}")
    out.print(table)


@app.command()
def demo(
    output: Annotated[Path, typer.Option("-o", "--output", help="Output picture.")] = Path(
        "impasto-demo.png"),
    device: DeviceOpt = "auto",
    size: Annotated[int, typer.Option("--size", help="Long side of the output.")] = 384,
    iterations: Annotated[int | None, typer.Option(
        "--iterations", help="Steps in total (default: as a stylize run).")] = None,
) -> None:
    """Stylise a built-in photo with a built-in painting (no files, no network)."""
    from impasto.image.samples import demo_content, demo_style

    content, style = demo_content(), demo_style()
    run_job(Job(content, [style], output, "optimize",  # type: ignore[arg-type]
                {"size": size, "iterations": iterations, "seed": 0}, device,
                provenance=signer_from_cli(False, None, None),
                style_terms=[{"title": "impasto's demo swirl", "artist": "impasto",
                              "licence": "CC0 1.0 (drawn by impasto's code)"}]))
    err.print("content: scikit-image's sample photo 'chelsea'; style: a swirling painting "
              "generated by impasto")


@app.command()
def info(json_out: JsonOpt = False) -> None:
    """Versions, devices and the VGG-19 weights file with its checksum."""
    import torch

    from impasto.features.weights import weights_info

    weights = weights_info()
    data = {
        "impasto": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "mps": torch.backends.mps.is_available(),
        "default_device": str(resolve_device("auto")),
        "weights": {"path": str(weights.path), "sha256": weights.sha256,
                    "bytes": weights.size_bytes, "verified": True},
    }
    if json_out:
        print(json.dumps(data))
        return
    table = Table(show_header=False)
    for key, value in data.items():
        if key == "weights":
            for wk, wv in value.items():
                table.add_row(f"weights {wk}", str(wv))
        else:
            table.add_row(key, str(value))
    out.print(table)


training_commands.register(app)
model_commands.register(app)
style_commands.register(app)
video_commands.register(app)
provenance_commands.register(app)
serve_commands.register(app)
batch_commands.register(app)


def _expand_optional_values(argv: list[str]) -> list[str]:
    """``--protect-faces`` may stand alone (default weight) or carry ``=WEIGHT``."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        if arg == "--protect-faces":
            following = argv[i + 1] if i + 1 < len(argv) else ""
            out.append(arg)
            if not _is_number(following):
                out.append(str(DEFAULT_PROTECT_WEIGHT))
        else:
            out.append(arg)
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    """Console entry point: every user error is one line on stderr and exit code 2."""
    argv = _expand_optional_values(list(sys.argv[1:] if argv is None else argv))
    command = interruptible(typer.main.get_command(app))
    RUN.clear()
    try:
        code = command.main(args=argv, prog_name="impasto", standalone_mode=False)
        if isinstance(code, int) and code:
            return code  # a command's typer.Exit(N), returned by click
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("impasto: aborted", file=sys.stderr)
        return 130
    except typer.TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            print(exc.format_message())
            return 0
        message = " ".join(exc.format_message().split())
        print(f"impasto: error: {message}", file=sys.stderr)
        return 2
    except Cancelled:
        print("impasto: cancelled", file=sys.stderr)
        return 130
    except ImpastoError as exc:
        message = str(exc).replace("\n", " ")
        print(f"impasto: error: {message}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Interrupted):
        # What was stopped, at which step, what was written (outputs are written whole or
        # not at all) and where the last preview is: one line.
        print(RUN.interrupted(), file=sys.stderr)
        return 130
    return 0


def entry() -> None:
    sys.exit(main())
