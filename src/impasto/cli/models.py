"""``impasto models``, ``export`` and ``webcam``: the trained networks the package ships, ONNX
export, and the live camera."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from impasto.cli.provenance import NoProvenanceOpt, SignCertOpt, SignKeyOpt, signer_from_cli
from impasto.runtime.device import DeviceName, resolve_device
from impasto.runtime.policy import Backend

err = Console(stderr=True)


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
    styles: Annotated[list[str] | None, typer.Argument(
        metavar="STYLE", help="Built-in styles by name (each painted by its trained network "
                              "where it has one), or style pictures (AdaIN / WCT); keys 1-9 "
                              "switch between them.")] = None,
    style: Annotated[list[str] | None, typer.Option(
        "--style", help="A STYLE given as an option, repeatable.")] = None,
    model: Annotated[list[str] | None, typer.Option(
        "--model", help="A trained network (folder or shipped name), repeatable; keys 1-9 "
                        "switch between them.")] = None,
    method: Annotated[Literal["network", "adain", "wct"] | None, typer.Option(
        "--method", help="network (the default with --model, or with built-in styles that "
                         "all have a trained network), adain (the default with other STYLE "
                         "pictures) or wct.")] = None,
    camera: Annotated[int, typer.Option("--camera", help="Camera index.")] = 0,
    size: Annotated[int, typer.Option("--size", help="Long side of the frames processed.")
                    ] = 640,
    device: Annotated[DeviceName, typer.Option("--device")] = "auto",
    backend: Annotated[Backend, typer.Option("--backend", help="With --model.")] = "auto",
    temporal: Annotated[float | None, typer.Option(
        "--temporal", help="Blend with the previous frame moved along the motion, 0 to 0.95 "
                           "(0: frame by frame; default 0.5).")] = None,
    record: Annotated[Path | None, typer.Option(
        "--record", help="Also write what is shown to this video file (.mp4, .mkv ...); "
                         "never one of the style pictures.")] = None,
    sign_cert: SignCertOpt = None,
    sign_key: SignKeyOpt = None,
    no_provenance: NoProvenanceOpt = False,
) -> None:
    """Show the camera live, stylised, with its frames per second: with trained networks
    (--model, or a built-in style's own: impasto webcam --style starry-night), or with any
    STYLE picture (--method adain / wct), as stylize does. Keys: 1-9 model or style, +/-
    strength, c colour, q quit. Without a camera or a display it says so in one line."""
    from impasto.webcam import run_webcam, webcam_method

    styles = [*(styles or []), *(style or [])]
    webcam_method(model or [], styles, method)  # bad options before the camera
    signer = signer_from_cli(no_provenance, sign_cert, sign_key) if record else False
    run_webcam(model or [], styles=styles, method=method, camera=camera, size=size,
               device=str(resolve_device(device)), backend=backend, temporal=temporal,
               record=record, provenance=signer)


def register(app: typer.Typer) -> None:
    app.command()(models)
    app.command()(export)
    app.command()(webcam)
