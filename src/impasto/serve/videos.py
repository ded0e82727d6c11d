"""Video jobs in ``impasto serve``: a clip recognised by its bytes and checked at submission
(decoded with PyAV within the limits, its options as the video engine will take them), then
rendered by a worker through the engine ``impasto video`` uses
(:func:`impasto.video.render.render_video`): a progress event per frame, a preview picture
every few seconds, cancel within a frame, the result written atomically with its audio and
signed, and a retry after a killed worker going on from the last whole segment.

A clip is recognised by its first bytes (MP4/QuickTime, Matroska/WebM, an animated GIF or
WebP) and then opened with that demuxer only: FFmpeg never guesses among its hundred formats
for bytes a client sent (some, such as HLS playlists, would open other files).
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import HTTPException

from impasto.errors import ImpastoError
from impasto.serve.files import DataDir
from impasto.serve.store import Job, Store

if TYPE_CHECKING:
    from impasto.events import CancelToken

#: The result's formats (the ``format`` option) and what each is served as.
FORMATS = {"mp4": "video/mp4", "webm": "video/webm", "mov": "video/quicktime",
           "mkv": "video/x-matroska", "gif": "image/gif"}
#: What a video job's options take besides its method's: ``impasto video``'s settings.
VIDEO_OPTIONS = ("size", "temporal", "start", "duration", "crf", "format")
#: Seconds of work between preview pictures (the first frame always has one).
PREVIEW_SECONDS = 2.0
#: Frames per segment: what a retry after a killed worker may have to make again.
SEGMENT = 48
#: The file name each recognised container is stored under (for people reading the folder;
#: what is read is decided by the bytes).
EXTENSIONS = {"mov": "mp4", "matroska": "mkv", "gif": "gif", "webp": "webp"}
#: ISO base media brands of still pictures (HEIF, AVIF), not videos.
STILL_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis")


@dataclass(frozen=True)
class VideoLimits:
    """The largest clip accepted: a frame's decoded pixels, and frames x pixels painted."""

    frame_pixels: int
    work_pixels: int


def sniff(raw: bytes) -> str | None:
    """The video container ``raw`` starts like (``mov``: MP4 or QuickTime, ``matroska``: MKV
    or WebM, ``gif`` / ``webp``: animated), or None (a picture, or nothing known)."""
    if raw[4:8] == b"ftyp" and raw[8:12] in STILL_BRANDS:
        return None  # a HEIF / AVIF photo in the same box format
    if raw[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free"):
        return "mov"
    if raw[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if raw[:6] in (b"GIF87a", b"GIF89a") or (raw[:4] == b"RIFF" and raw[8:12] == b"WEBP"):
        from PIL import Image

        try:
            with Image.open(io.BytesIO(raw)) as img:
                if getattr(img, "is_animated", False):
                    return "gif" if img.format == "GIF" else "webp"
        except Exception:  # not a picture either: decoding it as one says so
            return None
    return None


def need_video_extra() -> Any:
    """PyAV (and OpenCV, for the motion between frames), or a 501 saying how to get them."""
    try:
        import av
        import cv2  # noqa: F401
    except ImportError as exc:
        raise HTTPException(501, f"this service cannot take videos: it needs the [video] extra "
                                 f"(pip install 'impasto[video]'; {exc.name} is missing)"
                            ) from None
    return av


def split_options(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A video job's options: (the method's, the video's)."""
    return ({k: v for k, v in values.items() if k not in VIDEO_OPTIONS},
            {k: v for k, v in values.items() if k in VIDEO_OPTIONS})


def check_options(video: dict[str, Any], method: str) -> dict[str, Any]:
    """The video's options checked, as the engine takes them (a 422 on a bad one)."""
    from impasto.video.temporal import check_weight

    def number(name: str, low: float, *, above: bool = False) -> float | None:
        value = video.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
                value) or value < low or (above and value == low):
            raise HTTPException(422, f"video option {name} must be a number "
                                     f"{'over' if above else 'of at least'} {low:g}, not "
                                     f"{value!r}")
        return float(value)

    for name in ("size", "crf"):
        value = video.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise HTTPException(422, f"video option {name} must be a whole number, not "
                                     f"{value!r}")
    size = number("size", 16)
    crf = number("crf", 0)
    if crf is not None and crf > 63:
        raise HTTPException(422, f"video option crf must be 0 to 63, not {crf:g}")
    temporal = number("temporal", 0)
    try:
        check_weight(temporal, method)
    except ImpastoError as exc:
        raise HTTPException(422, f"video option {exc}") from None
    fmt = video.get("format", "mp4")
    if fmt not in FORMATS:
        raise HTTPException(422, f"video option format must be one of {', '.join(FORMATS)}, "
                                 f"not {fmt!r}")
    return {"size": None if size is None else int(size), "temporal": temporal,
            "start": number("start", 0) or 0.0, "duration": number("duration", 0, above=True),
            "crf": None if crf is None else int(crf), "format": fmt}


def probe(raw: bytes, container: str, video: dict[str, Any], limits: VideoLimits
          ) -> dict[str, Any]:
    """What the clip holds, read with the demuxer its bytes name: its frame size, the frames
    from ``start`` for ``duration`` (counted, not taken from the header), its audio; each limit
    a 422 saying what to change."""
    if container == "webp":
        clip = _probe_animation(raw, limits)
    else:
        clip = _probe_av(raw, container, limits)
    times = clip.pop("times")
    start, duration = video["start"], video["duration"]
    end = math.inf if duration is None else start + duration
    if times and start >= times[-1] + 1e-6 and start > 0:
        raise HTTPException(422, f"video option start {start:g} s is past the end of the clip "
                                 f"({times[-1]:.2f} s)")
    frames = sum(1 for t in times if start - 1e-6 <= t < end - 1e-6)
    if frames == 0:
        raise HTTPException(422, "the video has no frames to paint")
    from impasto.errors import InvalidOption
    from impasto.video.frames import even_size

    try:
        height, width = even_size(clip["height"], clip["width"], video["size"])
    except InvalidOption as exc:
        raise HTTPException(422, f"video option {exc}") from None
    work = frames * height * width
    if work > limits.work_pixels:
        raise HTTPException(422, f"the video has {frames} frames of {width}x{height} to paint "
                                 f"({_pixels(work)}), over the limit of "
                                 f"{_pixels(limits.work_pixels, unit=False)}: send a shorter "
                                 "clip (options start and duration) or ask for a smaller size")
    return {**clip, "frames": frames, "size": [width, height]}


def _pixels(count: int, *, unit: bool = True) -> str:
    """A count of pixels for a message: "24,576 pixels", "442 million pixels"."""
    text = f"{count / 1e6:,.0f} million" if count >= 10_000_000 else f"{count:,}"
    return f"{text} pixels" if unit else text


def _frame_size(width: int, height: int, limits: VideoLimits) -> None:
    if width * height > limits.frame_pixels:
        raise HTTPException(422, f"the video's frames are {width}x{height} pixels, over the "
                                 f"limit of {limits.frame_pixels} a frame")


def _probe_av(raw: bytes, container: str, limits: VideoLimits) -> dict[str, Any]:
    av = need_video_extra()
    try:
        with av.open(io.BytesIO(raw), format=container) as source:
            if not source.streams.video:
                raise HTTPException(422, "the video has no video stream")
            stream = source.streams.video[0]
            # The header's size first: a frame is decoded only once it is known to fit.
            _frame_size(stream.codec_context.width, stream.codec_context.height, limits)
            first = next(iter(source.decode(stream)), None)
            if first is None:
                raise HTTPException(422, "the video has no frames")
            _frame_size(first.width, first.height, limits)
            audio = source.streams.audio[0].codec_context.name if source.streams.audio \
                else None
        with av.open(io.BytesIO(raw), format=container) as source:
            stream = source.streams.video[0]
            base = stream.time_base
            stamps = sorted(p.pts for p in source.demux(stream)
                            if p.size and p.pts is not None)
    except HTTPException:
        raise
    except Exception as exc:  # FFmpeg's errors, and anything a broken file makes it raise
        reason = str(getattr(exc, "strerror", None) or exc).splitlines()[0][:120]
        raise HTTPException(422, f"the video could not be decoded ({reason})") from None
    origin = stamps[0] if stamps else 0
    return {"width": first.width, "height": first.height, "audio": audio,
            "times": [float((s - origin) * base) for s in stamps]}


def _probe_animation(raw: bytes, limits: VideoLimits) -> dict[str, Any]:
    """An animated WebP (FFmpeg reads none; the engine reads it with Pillow)."""
    from PIL import Image

    need_video_extra()
    with Image.open(io.BytesIO(raw)) as img:
        _frame_size(*img.size, limits)
        times, t = [], 0.0
        for index in range(img.n_frames):
            img.seek(index)
            times.append(t)
            t += max(1, int(img.info.get("duration") or 100)) / 1000
        return {"width": img.size[0], "height": img.size[1], "audio": None, "times": times}


# --------------------------------------------------------------------------- the worker


def render(job: Job, store: Store, pipeline: Any, data: DataDir, name: str,
           token: CancelToken) -> tuple[str, dict[str, float]]:
    """Render a claimed video job (the result's file name, the timings); a retry of a job
    whose worker was killed goes on from its last whole segment."""
    from impasto.video.frames import FrameStylizer
    from impasto.video.render import VideoJob, render_video

    spec, video = job.request, job.request["video"]
    styles, terms = data.styles_for(job)
    output = data.result(job.id, video["format"])
    stylizer = FrameStylizer(styles, method=job.method, options=spec["options"],
                             temporal=video["temporal"], pipeline=pipeline, style_terms=terms,
                             cancel=token)
    task = VideoJob(data.upload(job.id, spec["content"]), styles, output, job.method,
                    spec["options"], video["temporal"], video["size"], video["start"],
                    video["duration"], video["crf"], device=str(pipeline.device),
                    resume="auto", segment=SEGMENT, style_terms=terms)
    started = time.perf_counter()
    summary = render_video(task, progress=_FrameEvents(store, data, job, name, token),
                           stylizer=stylizer)
    return output.name, {"total_with_save": round(time.perf_counter() - started, 4),
                         "frames": summary["frames"], "frames_per_second": summary["fps"] or 0,
                         "resumed_at": summary["resumed_at"] or 0}


def remove_work(data: DataDir, job: Job) -> None:
    """A cancelled or failed video job's work folder (no retry will go on with it)."""
    import shutil

    output = data.result(job.id, job.request["video"]["format"])
    shutil.rmtree(output.parent / f".{output.name}.impasto-work", ignore_errors=True)


class _FrameEvents:
    """The engine's progress as the job's events: one per frame (frame i of n, time left), a
    preview picture on the first frame and then every :data:`PREVIEW_SECONDS`; a cancel
    (or a lost lease) stops the run here, within one frame."""

    def __init__(self, store: Store, data: DataDir, job: Job, worker: str,
                 token: CancelToken) -> None:
        self.store, self.data, self.job, self.worker = store, data, job, worker
        self.token = token
        self.previews = 0
        self.last_preview = -math.inf

    def __call__(self, p: Any) -> None:
        self.token.raise_if_cancelled()
        total = max(p.total, p.frames)
        fraction = p.frames / total
        left = p.elapsed * (total - p.frames) / p.frames if p.frames else None
        info = {"stage": "frame", "frame": p.frames, "frames": total,
                "fraction": round(fraction, 4), "elapsed": round(p.elapsed, 2),
                "seconds_left": None if left is None else round(left, 1)}
        now = time.perf_counter()
        if p.image is not None and now - self.last_preview >= PREVIEW_SECONDS:
            self.previews += 1
            self.last_preview = now
            _save_preview(p.image, self.data.preview(self.job.id, self.previews))
            self.store.progress(self.job.id, self.worker, fraction,
                                {**info, "preview": self.previews}, kind="preview")
        else:
            self.store.progress(self.job.id, self.worker, fraction, info)


def _save_preview(rgb: Any, path: Path) -> None:
    from PIL import Image

    from impasto.image.save import write_bytes_atomically

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=85)
    write_bytes_atomically(path, buffer.getvalue())

