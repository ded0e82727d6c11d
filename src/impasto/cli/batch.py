"""``impasto batch``: a folder of pictures in every style, or a manifest, resumable, on this
machine or on a Ray cluster."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from impasto.cli.options import with_config_options
from impasto.cli.provenance import NoProvenanceOpt, SignCertOpt, SignKeyOpt, signer_from_cli
from impasto.cli.render import typed_values
from impasto.errors import AnimatedPictureWarning, InvalidOption
from impasto.image.io import DEFAULT_MAX_PIXELS
from impasto.runtime.device import DeviceName, describe, is_cpu, resolve_device

err = Console(stderr=True, soft_wrap=True)

Method = Literal["optimize", "network", "adain", "wct", "gatys"]


@with_config_options
def batch(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(
        metavar="INPUT", help="A folder of pictures (each in every --style), one picture, or "
                              "a manifest (.csv or .jsonl: content, style, method, model, "
                              "output and any option per row; empty cells take the command "
                              "line's values).")],
    *,
    output: Annotated[Path, typer.Option("-o", "--output", help="The output folder (with "
                                         "results.jsonl: one line per item).")],
    style: Annotated[list[str] | None, typer.Option(
        "--style", help="A style picture, a folder of them, or a built-in style's name; "
                        "repeatable: each style makes its own pictures.")] = None,
    method: Annotated[Method | None, typer.Option(
        "--method", help="optimize (the default), network (with --model), adain or wct.")
    ] = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="A trained network (folder or shipped name): --method network.")
    ] = None,
    encoder: Annotated[str, typer.Option(
        "--encoder", help="With --method adain: vgg19 or a distilled encoder.")] = "vgg19",
    backend: Annotated[str, typer.Option(
        "--backend", help="With --model: auto, torch or onnx.")] = "auto",
    out_format: Annotated[Literal["png", "jpg", "webp", "tif"], typer.Option(
        "--format", help="Output format.")] = "png",
    bit_depth: Annotated[int, typer.Option("--bit-depth", help="8, or 16 (png, tif).")] = 8,
    scores: Annotated[bool, typer.Option(
        "--scores", help="Also measure each picture's style and content distances (into "
                         "results.jsonl).")] = False,
    stack: Annotated[int | None, typer.Option(
        "--stack", help="A trained network's pictures of one size in one pass (default: 1 on "
                        "a CPU, where stacking was slower, 8 on a GPU).")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Redo every item, even those an earlier run finished.")] = False,
    engine: Annotated[Literal["local", "ray"], typer.Option(
        "--engine", help="local (this process) or ray (a Ray cluster; [ray] extra).")
    ] = "local",
    ray_address: Annotated[str | None, typer.Option(
        "--ray-address", help="The Ray cluster to use (default: $RAY_ADDRESS, else a local "
                              "instance started for this batch).")] = None,
    ray_actors: Annotated[int | None, typer.Option(
        "--ray-actors", help="Ray actors (default: one a CPU, or a GPU, of the cluster).")
    ] = None,
    ray_cpus: Annotated[float, typer.Option(
        "--ray-cpus", help="CPUs each Ray actor holds (its torch threads).")] = 1.0,
    device: Annotated[DeviceName, typer.Option(
        "--device", help="Where to compute; auto picks cuda, mps, then cpu.")] = "auto",
    max_pixels: Annotated[int, typer.Option(
        "--max-pixels", help="Largest picture read (decompression-bomb guard).")
    ] = DEFAULT_MAX_PIXELS,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")
                        ] = False,
    sign_cert: SignCertOpt = None,
    sign_key: SignKeyOpt = None,
    no_provenance: NoProvenanceOpt = False,
    **config: Any,
) -> None:
    """Stylise at volume: every picture of INPUT in every --style (or each row of a
    manifest) into the folder -o, with results.jsonl. Rerunning the same command skips what
    is done and redoes what failed or changed; one bad item never stops the rest. Exit code
    0 when every item succeeded, 1 when some failed (listed), 2 for bad usage."""
    from impasto.batch import (
        BatchOptions,
        Defaults,
        RaySettings,
        from_manifest,
        from_pictures,
        run_batch,
    )

    given = {name for name in config
             if getattr(ctx.get_parameter_source(name), "name", "DEFAULT") != "DEFAULT"}
    values = typed_values(config, given)
    if model is not None:
        values["model"] = model
    for name, value, unset in (("encoder", encoder, "vgg19"), ("backend", backend, "auto")):
        if value != unset:
            values[name] = value
    defaults = Defaults(method, tuple(style or ()), values)  # check_method maps gatys
    if not source.exists():
        raise InvalidOption(f"INPUT not found: {source}")
    manifest = source.is_file() and source.suffix.lower() in (".csv", ".tsv", ".jsonl",
                                                               ".ndjson", ".json")
    items = from_manifest(source, defaults) if manifest else from_pictures(source, defaults)
    # The CPU is known without PyTorch (a network in onnxruntime never loads it).
    where = ("cpu" if is_cpu(device) else resolve_device(device)) if engine == "local" else device
    options = BatchOptions(
        ext=out_format.lower().lstrip("."), bit_depth=bit_depth, scores=scores,
        provenance=signer_from_cli(no_provenance, sign_cert, sign_key),
        device=str(where), engine=engine,
        ray=RaySettings(ray_address, ray_actors, ray_cpus), force=force,
        max_pixels=max_pixels, stack=stack)
    bar = _Bar(json_out)
    try:
        with warnings.catch_warnings():
            # Said once at the end, for the batch (an animated content's first frame).
            warnings.simplefilter("ignore", AnimatedPictureWarning)
            summary = run_batch(items, output, options, progress=bar.advance,
                                planned=bar.start)
    except KeyboardInterrupt:
        bar.stop()
        err.print(f"impasto: batch interrupted after {bar.finished} of {bar.total} items; "
                  f"each finished one is in {output / 'results.jsonl'}; run the same command "
                  "again to go on", highlight=False)
        raise typer.Exit(130) from None
    finally:
        bar.stop()
    if json_out:
        print(json.dumps({"items": summary.items, "done": summary.done,
                          "skipped": summary.skipped, "failed": len(summary.failed),
                          "seconds": round(summary.seconds, 3),
                          "results": str(summary.results),
                          "engine": engine, "device": describe(where) if engine == "local"
                          else device}))
    else:
        err.print(f"impasto batch: {summary.items} items: {summary.done} made, "
                  f"{summary.skipped} already done, {len(summary.failed)} failed, in "
                  f"{summary.seconds:.1f} s; results in {summary.results}", highlight=False)
    if summary.animated:
        err.print(f"impasto: {summary.animated} animated pictures were painted from their "
                  "first frame (results.jsonl gives their frames); impasto video paints every "
                  "frame", highlight=False)
    for row in summary.failed:
        styles = " + ".join(s.get("builtin") or Path(s.get("path", "?")).name
                            for s in row.get("styles", []))
        err.print(f"impasto: failed: {row.get('origin')}" + (f" in {styles}" if styles else "")
                  + f": {row.get('error')}", highlight=False)
    if summary.failed:
        raise typer.Exit(1)


class _Bar:
    """Items done, items a second and the time left, on stderr (not with --json)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.finished = 0
        self.total = 0
        self.progress: Progress | None = None

    def start(self, to_do: int, skipped: int) -> None:
        self.total = to_do
        if skipped and not self.quiet:
            err.print(f"impasto batch: {skipped} items already done (--force redoes them)",
                      highlight=False)
        if self.quiet or not to_do:
            return
        self.progress = Progress(
            TextColumn("batch"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("left"),
            TimeRemainingColumn(), console=err, transient=True)
        self.task = self.progress.add_task("batch", total=to_do, rate="")
        self.progress.start()

    def advance(self, row: dict[str, Any], finished: int, to_do: int) -> None:
        self.finished = finished
        if self.progress is None:
            return
        elapsed = self.progress.tasks[0].elapsed or 0.0
        rate = f"{finished / elapsed:.2f} items/s" if elapsed > 0 else ""
        self.progress.update(self.task, completed=finished, rate=rate)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def register(app: typer.Typer) -> None:
    app.command()(batch)
