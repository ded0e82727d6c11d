"""``impasto stylize`` and ``impasto texture``: the command line mapped onto one
:class:`~impasto.pipeline.Request` per picture, for every method; a file, a folder or
stdin/stdout."""

from __future__ import annotations

import io
import json
import shlex
import sys
import warnings
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError
from rich.console import Console

from impasto._version import __version__
from impasto.cli.animated import frames_to_paint, paint_every_frame
from impasto.cli.progress import RUN, Fanout, PreviewWriter, ProgressBar
from impasto.cli.provenance import after_writing
from impasto.config.text import parse_cli_values
from impasto.errors import AnimatedPictureWarning, InvalidImage, InvalidOption
from impasto.image.guard import refuse_overwriting_inputs
from impasto.image.io import PICTURE_SUFFIXES, frame_count, open_image
from impasto.image.masks import DEFAULT_PROTECT_WEIGHT, parse_mask_spec, parse_protect_spec
from impasto.image.save import check_output_path
from impasto.pipeline import Pipeline, Request, check_method
from impasto.provenance.signing import resolve_signer
from impasto.result import Result

PICTURES = PICTURE_SUFFIXES

err = Console(stderr=True)


@dataclass
class Job:
    """What one stylize/texture command asks for: the request's parts as typed, and where the
    picture goes."""

    content: Any  # a path, - (stdin), a folder; a picture (the demo); None (a texture)
    styles: list[Any]
    output: Path
    method: str = "optimize"
    values: dict[str, Any] = field(default_factory=dict)  # options the user typed
    device: str = "auto"
    json_out: bool = False
    preview_dir: Path | None = None
    bit_depth: int = 8
    max_pixels: int | None = None
    masks: list[str] = field(default_factory=list)
    protect: list[str] = field(default_factory=list)
    protect_faces: float | None = None
    #: The signer of the outputs' C2PA manifests (True: the default one), or False: no
    #: provenance at all (--no-provenance).
    provenance: Any = True
    style_terms: list[dict[str, str]] = field(default_factory=list)


def build_request(job: Job) -> Request:
    """The request (content filled in per picture) that ``job`` maps onto."""
    method = check_method(job.method)
    values = dict(job.values)
    if job.preview_dir is not None:
        if method != "optimize":
            raise InvalidOption(f"--preview-dir goes with --method optimize, not {method}")
        if not values.get("preview_every"):
            values["preview_every"] = 50
    if values.get("preview_every") and job.preview_dir is None:
        raise InvalidOption("--preview-every needs --preview-dir DIR")
    fields: dict[str, Any] = {}
    if job.max_pixels is not None:
        fields["max_pixels"] = job.max_pixels
    return Request(
        _PLACEHOLDER,
        job.styles, method=method, options=values,
        masks=[parse_mask_spec(text) for text in job.masks],
        protect=[parse_protect_spec(text, DEFAULT_PROTECT_WEIGHT) for text in job.protect],
        protect_faces=job.protect_faces, style_terms=job.style_terms, **fields)


#: Stands in for the content while the request is checked; each picture replaces it.
_PLACEHOLDER = Image.new("RGB", (1, 1))


def run_job(job: Job) -> None:
    """Check everything, then render a file, every picture of a folder, or stdin to stdout."""
    request = build_request(job)
    if job.content is None:
        request = request.replace(content=None)
    for path, _ in request.masks:
        if isinstance(path, str) and not Path(path).is_file():
            raise InvalidImage(f"mask not found: {path}")
    frames = frames_to_paint(job.content, job.output)
    if frames:
        refuse_overwriting_inputs(job.output, run_inputs(job, request))
        paint_every_frame(job, request.method, frames)
        return
    folder = _check_io(job, request)
    if folder and (request.masks or request.protect):
        raise InvalidOption("masks need one CONTENT picture, not a folder")
    pipeline = Pipeline(job.device)
    where = pipeline.describe(request.method, request.options)
    header = f"impasto {__version__} on {where}"
    with warnings.catch_warnings():
        # The command line says it in its own words (_note_animated).
        warnings.simplefilter("ignore", AnimatedPictureWarning)
        _run(job, request, pipeline, where, header, folder)


def _run(job: Job, request: Request, pipeline: Pipeline, where: str, header: str,
         folder: bool) -> None:
    if not isinstance(job.content, str):
        _write_one(job, _render(pipeline, request.replace(content=job.content), job, header),
                   where)
    elif job.content == "-":
        result = _render(pipeline, request.replace(content=_read_stdin(request.max_pixels)),
                         job, header)
        if str(job.output) == "-":
            buffer = io.BytesIO()
            result.image.save(buffer, format="PNG")
            data = buffer.getvalue()
            signer = resolve_signer(job.provenance)
            if signer is not None:
                data = signer.sign(data, "image/png", result.record, "stdout.png")
            sys.stdout.buffer.write(data)
            after_writing(job.provenance, result.record)
            sys.stdout.buffer.flush()
        else:
            _write_one(job, result, where)
    elif not folder:
        _write_one(job, _render(pipeline, request.replace(content=job.content), job, header),
                   where)
    else:
        _render_folder(job, lambda path: _render(pipeline, request.replace(content=path), job,
                                                 header), where)


def _render(pipeline: Pipeline, request: Request, job: Job, header: str) -> Result:
    content = request.content
    RUN.begin("synthesising the texture" if content is None else
              f"stylising {content}" if isinstance(content, str | Path) else "stylising")
    if request.method != "optimize":
        return pipeline.render(request)
    callbacks = Fanout(PreviewWriter(job.preview_dir) if job.preview_dir is not None else None)
    with ProgressBar(err, header=header) as bar:
        callbacks.callbacks.append(bar)
        return pipeline.render(request, callback=callbacks)


def summary(result: Result, written: Path | str) -> dict[str, Any]:
    return {"output": str(written), "size": list(result.image.size),
            "seconds": round(result.seconds, 4), "method": result.method,
            "device": result.device, "precision": result.precision,
            "options": result.options.to_dict()}


def _write_one(job: Job, result: Result, where: str) -> None:
    written = result.save(job.output, bit_depth=job.bit_depth, provenance=job.provenance)
    after_writing(job.provenance, result.record)
    if job.json_out:
        print(json.dumps(summary(result, written)))
        return
    seed = getattr(result.options, "seed", None)
    err.print(f"wrote {written} ({result.image.size[0]}x{result.image.size[1]}) in "
              + (f"{result.seconds:.1f} s" if result.seconds >= 1
                 else f"{result.seconds * 1000:.0f} ms")
              + (f", seed {seed}" if result.method == "optimize" and seed is not None else ""),
              highlight=False)


#: What ``init`` names when it is not a picture.
_STARTS = ("auto", "adain", "content", "noise")


def run_inputs(job: Job, request: Request) -> list[Any]:
    """Every file the run reads: content, styles, masks, the start picture (an output must be
    none of them)."""
    found: list[Any] = [job.content, *request.styles]
    found += [source for source, _ in (*request.masks, *request.protect)]
    init = getattr(request.options, "init", None)
    if isinstance(init, str) and init not in _STARTS:
        found.append(init)
    return found


def _check_io(job: Job, request: Request) -> bool:
    """Check CONTENT and -o before any work (no input is ever written over); return whether
    CONTENT is a folder."""
    inputs = run_inputs(job, request)
    if not isinstance(job.content, str):  # a texture, or the demo's built-in picture
        refuse_overwriting_inputs(job.output, inputs)
        check_output_path(job.output, bit_depth=job.bit_depth)
        return False
    source = Path(job.content)
    if job.content != "-" and not source.exists():
        raise InvalidImage(f"content image not found: {job.content}")
    folder = job.content != "-" and source.is_dir()
    if folder:
        if job.output.suffix.lower() in PICTURES or (job.output.exists()
                                                     and not job.output.is_dir()):
            raise InvalidOption(f"CONTENT is a folder, so -o must be a folder, not {job.output}")
        files = folder_pictures(source)
        names = output_names(files)
        for path in files:
            refuse_overwriting_inputs(
                job.output / names[path], [*files, *inputs[1:]],
                hint=f"choose another output folder than {job.output}")
        job.output.mkdir(parents=True, exist_ok=True)
        check_output_path(job.output / "x.png", bit_depth=job.bit_depth)
    elif str(job.output) != "-":
        refuse_overwriting_inputs(job.output, inputs)
        check_output_path(job.output, bit_depth=job.bit_depth)
        if job.content != "-":
            _note_animated(job)
    return folder


def _note_animated(job: Job) -> None:
    """An animated CONTENT (GIF, APNG, WebP) is painted from its first frame: one line says
    so, with the command that paints every frame."""
    frames = frame_count(str(job.content))
    if frames < 2:
        return
    video = ["impasto", "video", str(job.content), *(str(s) for s in job.styles), "-o",
             str(job.output.with_suffix(".gif"))]
    if job.method != "adain":
        video += ["--method", job.method]
    if job.values.get("model"):
        video += ["--model", str(job.values["model"])]
    print(f"impasto: {job.content} has {frames} frames; used the first; for all frames run: "
          f"{shlex.join(video)}", file=sys.stderr)


def folder_pictures(source: Path) -> list[Path]:
    """The pictures of a CONTENT folder, in order."""
    files = sorted(p for p in source.iterdir() if p.suffix.lower() in PICTURES and p.is_file())
    if not files:
        raise InvalidImage(f"no pictures in {source}")
    return files


def output_names(files: list[Path]) -> dict[Path, str]:
    """A PNG name per input that never collides: the stem, or stem and extension where two
    inputs share a stem (``a.jpg`` and ``a.png`` -> ``a_jpg.png`` and ``a_png.png``)."""
    stems = Counter(p.stem for p in files)
    return {p: (f"{p.stem}_{p.suffix.lstrip('.').lower()}.png" if stems[p.stem] > 1
                else f"{p.stem}.png") for p in files}


def _render_folder(job: Job, render: Callable[[Path], Result], where: str) -> None:
    files = folder_pictures(Path(str(job.content)))
    names = output_names(files)
    rows: list[dict[str, Any]] = []
    styled: list[Result] = []
    failed = 0

    def report(path: Path, result: Result, saving: Future[Path]) -> None:
        written = saving.result()  # a write that failed (disk full ...) stops the run here
        if not styled:
            styled.append(result)
        rows.append({"input": str(path), **summary(result, written)})
        if not job.json_out:
            err.print(f"wrote {written} ({result.image.size[0]}x{result.image.size[1]}) in "
                      f"{result.seconds * 1000:.0f} ms", highlight=False)

    # Each picture is written (PNG compression: single-threaded, as long as a network's pass)
    # in a second thread while the next one renders; reports stay in the files' order.
    pending: tuple[Path, Result, Future[Path]] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="impasto-save") as saver:
        for path in files:
            try:
                result = render(path)
            except InvalidImage as exc:
                failed += 1
                print(f"impasto: skipped {path.name}: {exc}", file=sys.stderr)
                continue
            saving = saver.submit(result.save, job.output / names[path],
                                  bit_depth=job.bit_depth, provenance=job.provenance)
            saving.add_done_callback(_remember_written)
            if pending is not None:
                report(*pending)
            pending = (path, result, saving)
        if pending is not None:
            report(*pending)
    if styled:
        after_writing(job.provenance, styled[0].record)  # the same styles for every picture
    if job.json_out:
        print(json.dumps({"outputs": rows, "failed": failed, "device": where}))
    if failed:
        raise InvalidImage(f"{failed} of {len(files)} pictures could not be read; the others "
                           f"are in {job.output}")


def _remember_written(saving: Future[Path]) -> None:
    """A picture written whole goes on the list Ctrl-C reports."""
    if not saving.cancelled() and saving.exception() is None:
        RUN.written.append(saving.result())


def _read_stdin(max_pixels: int) -> Image.Image:
    data = sys.stdin.buffer.read()
    if not data:
        raise InvalidImage("no picture on standard input")
    try:
        picture = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidImage(f"standard input is not a picture ({exc})") from None
    frames = frame_count(picture)
    if frames > 1:
        print(f"impasto: standard input has {frames} frames; used the first", file=sys.stderr)
    return open_image(picture, name="content", max_pixels=max_pixels)


def typed_values(values: dict[str, Any], given: set[str]) -> dict[str, Any]:
    """The options the user typed, parsed (comma lists to tuples)."""
    return parse_cli_values({k: v for k, v in values.items() if k in given})
