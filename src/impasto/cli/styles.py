"""``impasto styles``: the built-in styles, their records, and a sheet of all of them on a
photo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from impasto.runtime.device import DeviceName, resolve_device

err = Console(stderr=True)


def styles(
    json_out: Annotated[bool, typer.Option("--json", help="Print the records as JSON.")] = False,
    sheet: Annotated[Path | None, typer.Option(
        "--sheet", help="Render every style on a photo into this contact sheet (.png, .jpg).")
    ] = None,
    photo: Annotated[str | None, typer.Option(
        "--photo", help="With --sheet: the photo (default: the demo's built-in photo).")] = None,
    size: Annotated[int, typer.Option(
        "--size", help="With --sheet: long side of each picture.")] = 256,
    method: Annotated[Literal["adain", "wct", "network"], typer.Option(
        "--method", help="With --sheet: adain (fast), wct, or network (each style's trained "
                         "network: the styles that have one).")] = "adain",
    device: Annotated[DeviceName, typer.Option("--device")] = "auto",
) -> None:
    """List the built-in styles (public-domain paintings, usable by name as a STYLE
    everywhere), or render them all on a photo with --sheet."""
    from impasto.styles.library import builtin_styles

    found = builtin_styles()
    if sheet is not None:
        _sheet(sheet, photo, size, method, device, json_out)
        return
    if json_out:
        print(json.dumps({"styles": [s.record() for s in found]}, indent=2))
        return
    table = Table(title=f"{len(found)} built-in styles (public domain)")
    table.add_column("name", no_wrap=True)  # what is typed: never cut
    for header in ("title", "artist", "year", "movement", "palette"):
        table.add_column(header)
    table.add_column("network", no_wrap=True)
    for s in found:
        table.add_row(s.name, s.title, s.artist, s.year, s.movement, s.palette,
                      "yes" if s.network else "")
    Console().print(table)
    err.print("use a name as STYLE: impasto stylize photo.jpg starry-night -o out.png; "
              "a style with a network also paints in milliseconds (--method network); "
              "impasto styles --json shows each record (licence, source, scale)",
              highlight=False)


def _sheet(path: Path, photo: str | None, size: int, method: str, device: str,
           json_out: bool) -> None:
    import time

    from impasto.api import style_sheet
    from impasto.errors import InvalidOption
    from impasto.image.guard import refuse_overwriting_inputs
    from impasto.image.save import check_output_path, save_image

    if not 32 <= size <= 2048:
        raise InvalidOption(f"--size must be between 32 and 2048, not {size}")
    refuse_overwriting_inputs(path, [photo])
    check_output_path(path)
    started = time.perf_counter()
    with err.status("painting the styles") as status:
        picture = style_sheet(photo, size=size, method=method,
                              device=str(resolve_device(device)),
                              progress=lambda done, total: status.update(
                                  f"painting the styles: {done}/{total}"))
    written = save_image(picture, path)
    seconds = time.perf_counter() - started
    if json_out:
        print(json.dumps({"output": str(written), "size": list(picture.size),
                          "seconds": round(seconds, 3)}))
    else:
        err.print(f"wrote {written} ({picture.size[0]}x{picture.size[1]}) in {seconds:.1f} s",
                  highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(styles)
