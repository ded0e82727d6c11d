"""An animated picture (GIF, APNG, WebP) given to ``impasto stylize`` with an animated output
(``-o out.gif`` or ``.webp``): every frame is painted, as ``impasto video`` paints it, with the
same method and options."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console

from impasto.cli.provenance import after_writing
from impasto.errors import InvalidOption
from impasto.image.io import frame_count
from impasto.runtime.device import resolve_device

#: Outputs that hold every frame.
ANIMATED_OUTPUTS = (".gif", ".webp")

err = Console(stderr=True, soft_wrap=True)


def frames_to_paint(content: Any, output: Path) -> int:
    """How many frames ``content`` has when it is an animated picture going to an animated
    output (0 otherwise: a still picture is made as usual)."""
    if not isinstance(content, str) or content == "-" or not Path(content).is_file():
        return 0
    if output.suffix.lower() not in ANIMATED_OUTPUTS:
        return 0
    frames = frame_count(content)
    return frames if frames > 1 else 0


def paint_every_frame(job: Any, method: str, frames: int) -> None:
    """Paint every frame of ``job.content`` into ``job.output`` through the video path (a
    ``cli.render.Job``'s styles, options, device and provenance)."""
    from impasto.video.render import VideoJob, render_video

    if job.masks or job.protect or job.protect_faces is not None or job.preview_dir:
        raise InvalidOption("masks, face protection and previews go with one picture: an "
                            f"animated CONTENT to an animated -o ({job.output.suffix}) is "
                            "painted frame by frame, which takes none of them")
    options = dict(job.values)
    size = options.pop("size", None)
    err.print(f"impasto: {job.content} has {frames} frames and {job.output.name} is animated: "
              "painting every frame, as impasto video does", highlight=False)
    video = VideoJob(Path(job.content), list(job.styles), job.output, method, options, None,
                     size, device=str(resolve_device(job.device)),
                     provenance=job.provenance, style_terms=job.style_terms)
    summary = render_video(video)
    after_writing(job.provenance, {"styles": summary["styles"]})
    if job.json_out:
        print(json.dumps(summary))
        return
    err.print(f"wrote {summary['output']} ({summary['frames']} frames, "
              f"{summary['size'][0]}x{summary['size'][1]}) in {summary['seconds']:.1f} s",
              highlight=False)
