"""``impasto video`` and ``impasto score-video``: video files stylised with temporal
consistency, and how much a stylised video flickers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

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
from impasto.errors import InvalidOption
from impasto.runtime.device import DeviceName, is_cpu, resolve_device

err = Console(stderr=True)


def video(
    source: Annotated[Path, typer.Argument(metavar="IN", help="Video (or animated GIF/WebP).")],
    styles: Annotated[list[str] | None, typer.Argument(
        metavar="STYLE...", help="Style pictures or built-in style names (none with --model).")
    ] = None,
    *,
    output: Annotated[Path, typer.Option("-o", "--output", help="Output video: .mp4, .mov, "
                                         ".mkv, .webm, .gif or .webp; never the input or a "
                                         "style picture.")],
    method: Annotated[Literal["adain", "wct", "network", "optimize"] | None, typer.Option(
        "--method", help="adain (default), wct, network (with --model) or optimize.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="A trained network.")] = None,
    encoder: Annotated[str | None, typer.Option(
        "--encoder", help="With adain: vgg19, or a distilled encoder (student-relu4_1).")
    ] = None,
    strength: Annotated[float | None, typer.Option("--strength", help="Style strength.")
                        ] = None,
    size: Annotated[int | None, typer.Option(
        "--size", help="Long side of the output frames (default: the input's).")] = None,
    temporal: Annotated[float | None, typer.Option(
        "--temporal", help="Blend with the previous frame moved along the motion, 0 to 0.95 "
                           "(0: frame by frame; default 0.5, and 0.3 for the optimiser)."
    )] = None,
    start: Annotated[float, typer.Option("--start", help="Start at T seconds.")] = 0.0,
    duration: Annotated[float | None, typer.Option("--duration", help="Only D seconds.")
                        ] = None,
    crf: Annotated[int | None, typer.Option(
        "--crf", help="Quality of H.264 / VP9 (lower is better; default 18 / 32).")] = None,
    codec: Annotated[str | None, typer.Option(
        "--codec", help="Video codec (default: libx264 for .mp4/.mov/.mkv, libvpx-vp9 for "
                        ".webm).")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Go on with an interrupted run of the same command.")] = False,
    device: Annotated[DeviceName, typer.Option("--device")] = "auto",
    precision: Annotated[Literal["auto", "fp32", "bf16", "fp16"], typer.Option(
        "--precision", help="Arithmetic of the networks: auto = the runtime policy's choice "
                            "(bf16 where the hardware has it; fp32 stands in for a CPU "
                            "without).")] = "auto",
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
    sign_cert: SignCertOpt = None,
    sign_key: SignKeyOpt = None,
    no_provenance: NoProvenanceOpt = False,
    style_licence: StyleLicenceOpt = None,
    style_attribution: StyleAttributionOpt = None,
) -> None:
    """Stylise a video with temporal consistency (the audio, frame timing and rotation kept);
    an interrupted run goes on with --resume."""
    from impasto.video.render import VideoJob, render_video
    from impasto.video.temporal import check_weight

    chosen = method or ("network" if model is not None else "adain")
    options: dict[str, Any] = {} if precision == "auto" else {"precision": precision}
    if model is not None:
        if chosen != "network":
            raise InvalidOption(f"--model and --method {chosen} do not go together")
        options["model"] = model
    if encoder is not None:
        options["encoder"] = encoder
    if strength is not None:
        options["strength"] = strength
    check_weight(temporal, chosen)
    job = VideoJob(source, list(styles or []), output, chosen, options, temporal, size, start,
                   duration, crf, codec,
                   "cpu" if is_cpu(device) else str(resolve_device(device)), resume,
                   provenance=signer_from_cli(no_provenance, sign_cert, sign_key),
                   style_terms=style_terms_from_cli(style_licence, style_attribution))
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TextColumn("{task.fields[fps]} frames/s"),
                  TimeRemainingColumn(), console=err, transient=True,
                  disable=json_out) as bar:
        task = bar.add_task("stylising", total=None, fps="-")

        def update(p: Any) -> None:
            bar.update(task, completed=p.frames, total=p.total,
                       fps=f"{p.frames / p.elapsed:.1f}" if p.elapsed else "-")

        try:
            summary = render_video(job, progress=update)
        except KeyboardInterrupt:
            bar.stop()
            done = int(bar.tasks[0].completed)
            err.print(f"impasto: interrupted after {done} frames; {output} was not written. "
                      "The same command with --resume goes on from the last whole segment.",
                      highlight=False)
            raise typer.Exit(130) from None
    after_writing(job.provenance, {"styles": summary["styles"]})
    if json_out:
        print(json.dumps(summary))
        return
    resumed = f", resumed at frame {summary['resumed_at']}" if summary["resumed_at"] else ""
    err.print(f"wrote {summary['output']} ({summary['frames']} frames, "
              f"{summary['size'][0]}x{summary['size'][1]}) in {summary['seconds']:.1f} s "
              f"({summary['fps']} frames/s{resumed}); audio {summary['audio']}; provenance "
              f"{summary['provenance']}", highlight=False)


def score_video(
    source: Annotated[Path, typer.Argument(metavar="IN", help="The input video.")],
    output: Annotated[Path, typer.Argument(metavar="OUT", help="Its stylised video.")],
    style: Annotated[str | None, typer.Option(
        "--style", help="Also the mean style distance to this style (every 10th frame).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """How much OUT flickers: the warping error (Lai et al. 2018), short-term (next frame)
    and long-term (10 frames on), lower is steadier."""
    from impasto.video.score import score_video as measure

    scores = measure(source, output, style=style)
    if json_out:
        print(json.dumps(scores.to_dict()))
        return
    long = "-" if scores.long_term is None else f"{scores.long_term:.6f}"
    line = (f"{scores.frames} frames: warping error {scores.short_term:.6f} (short-term), "
            f"{long} (long-term)")
    if scores.style_distance is not None:
        line += f"; style distance {scores.style_distance:.4f}"
    print(line)


def register(app: typer.Typer) -> None:
    app.command()(video)
    app.command("score-video")(score_video)
