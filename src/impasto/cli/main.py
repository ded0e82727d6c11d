"""The ``impasto`` command: stylize, score, demo, info.

Every :class:`~impasto.errors.ImpastoError` and every usage error becomes one line on stderr and
exit code 2; no traceback reaches the user.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from impasto import api
from impasto._version import __version__
from impasto.cli.options import config_from_cli, with_config_options
from impasto.cli.progress import Fanout, PreviewWriter, ProgressBar
from impasto.devices import DeviceName, describe, resolve_device
from impasto.errors import Cancelled, ImpastoError, InvalidOption
from impasto.image.io import DEFAULT_MAX_PIXELS, check_output_path

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


def run_stylize(content: str, styles: list[str], output: Path, *, device: str, json_out: bool,
                preview_dir: Path | None, bit_depth: int, max_pixels: int,
                config_values: dict[str, Any]) -> dict[str, Any]:
    cfg = config_from_cli(config_values)
    check_output_path(output, bit_depth=bit_depth)
    if preview_dir is not None and cfg.preview_every == 0:
        cfg = cfg.replace(preview_every=50)
    if cfg.preview_every and preview_dir is None:
        raise InvalidOption("--preview-every needs --preview-dir DIR")
    dev = resolve_device(device)
    stylizer = api.Stylizer(dev, max_pixels=max_pixels)
    callbacks = Fanout(PreviewWriter(preview_dir) if preview_dir is not None else None)
    with ProgressBar(err, header=f"impasto {__version__} on {describe(dev)}") as bar:
        callbacks.callbacks.append(bar)
        result = stylizer.stylize(content, styles, cfg, callback=callbacks)
    written = result.save(output, bit_depth=bit_depth)
    summary = {
        "output": str(written),
        "size": list(result.image.size),
        "seconds": round(result.seconds, 2),
        "device": result.device,
        "precision": result.precision,
        "options": result.config.to_dict(),
    }
    if json_out:
        print(json.dumps(summary))
    else:
        err.print(f"wrote {written} ({result.image.size[0]}x{result.image.size[1]}) "
                  f"in {result.seconds:.1f} s, seed {result.config.seed}")
    return summary


@app.command()
@with_config_options
def stylize(
    content: Annotated[str, typer.Argument(help="Content picture.")],
    styles: Annotated[list[str], typer.Argument(help="One or more style pictures.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output picture (.png, .jpg, "
                                         ".webp, .tif); its folder is created.")],
    device: DeviceOpt = "auto",
    json_out: JsonOpt = False,
    preview_dir: Annotated[Path | None, typer.Option(
        "--preview-dir", help="Folder for preview snapshots (with --preview-every).")] = None,
    bit_depth: Annotated[int, typer.Option("--bit-depth", help="8, or 16 for PNG/TIFF.")] = 8,
    max_pixels: Annotated[int, typer.Option(
        "--max-pixels", help="Largest input picture accepted, in pixels.")] = DEFAULT_MAX_PIXELS,
    **config: Any,
) -> None:
    """Render CONTENT in the style of one or more STYLE pictures (Gatys et al.)."""
    run_stylize(content, styles, output, device=device, json_out=json_out,
                preview_dir=preview_dir, bit_depth=bit_depth, max_pixels=max_pixels,
                config_values=config)


@app.command()
def score(
    content: Annotated[str, typer.Argument(help="Content picture.")],
    style: Annotated[str, typer.Argument(help="Style picture.")],
    outputs: Annotated[list[str], typer.Argument(help="Stylised pictures to score.")],
    device: DeviceOpt = "cpu",
    json_out: JsonOpt = False,
) -> None:
    """Style, content, structure (SSIM) and colour distances of stylised pictures."""
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
    iterations: Annotated[int, typer.Option("--iterations", help="Steps in total.")] = 200,
) -> None:
    """Stylise a built-in photo with a built-in painting (no files, no network)."""
    from impasto.image.samples import demo_content, demo_style

    content, style = demo_content(), demo_style()
    run_stylize(content, [style], output, device=device, json_out=False, preview_dir=None,
                bit_depth=8, max_pixels=DEFAULT_MAX_PIXELS,
                config_values={"size": size, "iterations": iterations, "seed": 0})
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


def main(argv: list[str] | None = None) -> int:
    """Console entry point: every user error is one line on stderr and exit code 2."""
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="impasto", standalone_mode=False)
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
    except KeyboardInterrupt:
        print("impasto: interrupted; no output written", file=sys.stderr)
        return 130
    return 0


def entry() -> None:
    sys.exit(main())
