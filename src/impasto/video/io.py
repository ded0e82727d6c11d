"""Reading and writing video with PyAV (FFmpeg in its wheel): frames with their own
timestamps (variable frame rates kept), the rotation, colour range and pixel format carried
over, the audio copied as it is where the container takes it, animated GIF / WebP in and out.

Frames are (H, W, 3) uint8 RGB arrays as stored (not rotated): the output gets the input's
rotation, so players show it the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from impasto.errors import InvalidImage, InvalidOption

#: Output extension -> (container format, default video codec, audio codec or None: no audio).
CONTAINERS: dict[str, tuple[str, str, str | None]] = {
    ".mp4": ("mp4", "libx264", "aac"),
    ".mov": ("mov", "libx264", "aac"),
    ".mkv": ("matroska", "libx264", "aac"),
    ".webm": ("webm", "libvpx-vp9", "libopus"),
    ".gif": ("gif", "gif", None),
    ".webp": ("webp", "libwebp_anim", None),
}
#: Audio codecs each container takes as they are (else the audio is encoded again).
COPYABLE_AUDIO = {"mp4": {"aac", "mp3", "ac3", "alac", "opus"},
                  "mov": {"aac", "mp3", "ac3", "alac", "pcm_s16le"},
                  "matroska": None,  # anything
                  "webm": {"opus", "vorbis"}}
#: Pixel formats kept when the input has them and the encoder takes them.
DEFAULT_PIX_FMT = {"libx264": "yuv420p", "libvpx-vp9": "yuv420p", "gif": "rgb8",
                   "libwebp_anim": "yuv420p", "ffv1": "yuv444p", "mpeg4": "yuv420p"}


def _av() -> Any:
    try:
        import av
    except ImportError:
        raise InvalidOption("video needs PyAV: pip install 'impasto[video]'") from None
    return av


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, as read before any work."""

    path: Path
    width: int
    height: int
    time_base: Fraction
    rate: Fraction | None  # the average frame rate
    frames: int  # as the container says (0: unknown)
    duration: float  # seconds (0: unknown)
    rotation: int
    pix_fmt: str
    color_range: int
    codec: str
    audio: str | None  # the audio codec, or None
    #: Who decodes it: FFmpeg (PyAV), or Pillow for animated WebP (FFmpeg reads none).
    reader: str = "ffmpeg"

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "width": self.width, "height": self.height,
                "rate": None if self.rate is None else float(self.rate),
                "frames": self.frames, "duration": round(self.duration, 4),
                "rotation": self.rotation, "pix_fmt": self.pix_fmt, "codec": self.codec,
                "audio": self.audio}


def probe(path: str | Path) -> VideoInfo:
    """Open ``path`` and read its first frame: one clear error if it is not a video, has no
    video stream, or has no frame."""
    av = _av()
    path = Path(path)
    if path.is_dir():
        raise InvalidImage(f"{path} is a folder, not a video")
    if not path.is_file():
        raise InvalidImage(f"video not found: {path}")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InvalidImage(f"{path.name} has no video stream")
            stream = container.streams.video[0]
            first = next(iter(container.decode(stream)), None)
            if first is None:
                raise InvalidImage(f"{path.name} has no video frames")
            audio = container.streams.audio[0].codec_context.name \
                if container.streams.audio else None
            duration = 0.0
            if stream.duration is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / 1_000_000
            return VideoInfo(path, first.width, first.height, stream.time_base,
                             stream.average_rate, int(stream.frames or 0), duration,
                             int(first.rotation or 0), first.format.name,
                             int(stream.codec_context.color_range or 0),
                             stream.codec_context.name, audio)
    except InvalidImage:
        raise
    except (av.error.FFmpegError, StopIteration, ValueError) as exc:
        animation = _probe_animation(path)
        if animation is not None:
            return animation
        raise InvalidImage(f"{path.name} is not a readable video ({_reason(exc)})") from None


#: Time base of animations read with Pillow (their frame durations are milliseconds).
MILLISECONDS = Fraction(1, 1000)


def _probe_animation(path: Path) -> VideoInfo | None:
    """An animated WebP, which FFmpeg does not read, as Pillow reads it; else None."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            if image.format != "WEBP" or getattr(image, "n_frames", 1) < 2:
                return None
            durations = []
            for index in range(image.n_frames):
                image.seek(index)
                image.load()  # a frame's duration is known once it is decoded
                durations.append(_frame_ms(image))
            width, height = image.size
    except (OSError, ValueError, EOFError):
        return None
    total = sum(durations)
    return VideoInfo(path, width, height, MILLISECONDS,
                     Fraction(len(durations) * 1000, total), len(durations), total / 1000, 0,
                     "rgb24", 0, "webp", None, reader="pillow")


def _animation_frames(info: VideoInfo) -> Iterator[tuple[int, np.ndarray]]:
    """(start in ms, RGB pixels) of each frame of an animation read with Pillow."""
    from PIL import Image

    with Image.open(info.path) as image:
        t = 0
        for index in range(image.n_frames):
            image.seek(index)
            yield t, np.asarray(image.convert("RGB"))
            t += _frame_ms(image)


def _frame_ms(image: Any) -> int:
    """The duration of an animation's current (decoded) frame in ms (100 when unsaid)."""
    return max(1, int(image.info.get("duration") or 100))


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "strerror", None) or exc).splitlines()[0][:120]


@dataclass(frozen=True)
class Frame:
    """A decoded frame: RGB pixels, its timestamp (in the stream's time base, from the start
    of the part read) and its time in seconds from that start."""

    rgb: np.ndarray
    pts: int
    time: float


def read_frames(info: VideoInfo, *, start: float = 0.0,
                duration: float | None = None) -> Iterator[Frame]:
    """The frames of ``info.path`` from ``start`` s for ``duration`` s (None: to the end), one at
    a time (nothing is held). Timestamps are shifted so that the first frame is at 0."""
    av = _av()
    end = math.inf if duration is None else start + duration
    tb = info.time_base
    if info.reader == "pillow":
        origin: int | None = None
        for pts, rgb in _animation_frames(info):
            t = float(pts * tb)
            if t < start - 1e-6:
                continue
            if t >= end - 1e-6:
                break
            origin = pts if origin is None else origin
            yield Frame(rgb, pts - origin, float((pts - origin) * tb))
        return
    try:
        with av.open(str(info.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if start > 0:
                container.seek(int(start / tb), stream=stream, backward=True, any_frame=False)
            origin: int | None = None
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                t = float(frame.pts * tb)
                if t < start - 1e-6:
                    continue
                if t >= end - 1e-6:
                    break
                if origin is None:
                    origin = frame.pts
                yield Frame(frame.to_ndarray(format="rgb24"), frame.pts - origin,
                            float((frame.pts - origin) * tb))
    except av.error.FFmpegError as exc:
        raise InvalidImage(f"{info.path.name}: the video is damaged ({_reason(exc)})") from None


def output_format(path: Path, codec: str | None) -> tuple[str, str, str | None]:
    """(container, video codec, audio codec or None) for an output path, the codec checked."""
    av = _av()
    suffix = path.suffix.lower()
    if suffix not in CONTAINERS:
        raise InvalidOption(f"cannot write video as {suffix or 'a file without extension'}: "
                            f"use {', '.join(CONTAINERS)}")
    fmt, default, audio = CONTAINERS[suffix]
    chosen = codec or default
    try:
        av.codec.Codec(chosen, "w")
    except Exception:
        raise InvalidOption(f"codec {chosen} is not available here") from None
    allowed = {"gif": {"gif"}, "webp": {"libwebp_anim"},
               "webm": {"libvpx-vp9", "libvpx", "libaom-av1", "libsvtav1"}}.get(fmt)
    if allowed is not None and chosen not in allowed:
        raise InvalidOption(f"{suffix} takes the codec {' or '.join(sorted(allowed))}, "
                            f"not {chosen}")
    if fmt in ("mp4", "mov") and chosen in ("gif", "libwebp_anim", "ffv1"):
        raise InvalidOption(f"{suffix} does not take the codec {chosen}")
    return fmt, chosen, audio


def output_pix_fmt(codec: str, given: str) -> str:
    """The input's pixel format where the encoder takes it (4:4:4, 10-bit ...), else the
    codec's usual one. The old full-range ``yuvj`` formats become their ``yuv`` twins (the
    colour range is carried apart)."""
    av = _av()
    given = given.replace("yuvj", "yuv")
    formats = {f.name for f in (av.codec.Codec(codec, "w").video_formats or ())}
    if codec not in ("gif", "libwebp_anim") and given in formats:
        return given
    return DEFAULT_PIX_FMT.get(codec, "yuv420p")


def open_encoder(container: Any, codec: str, info: VideoInfo, size: tuple[int, int],
                 *, crf: int | None) -> Any:
    """A video stream in ``container`` for frames of ``size`` (H, W), with the input's time
    base (so every frame keeps its own timestamp), rotation and colour range."""
    stream = container.add_stream(codec, rate=info.rate or 25)
    stream.time_base = info.time_base
    stream.codec_context.time_base = info.time_base
    stream.height, stream.width = size
    stream.pix_fmt = output_pix_fmt(codec, info.pix_fmt)
    if info.color_range and codec != "gif":
        stream.codec_context.color_range = info.color_range
    options: dict[str, str] = {}
    if codec in ("libx264", "libx265"):
        # No B-frames: every packet's decoding time is its presentation time, so segments
        # written apart join into one stream exactly.
        options = {"crf": str(18 if crf is None else crf), "preset": "veryfast", "bf": "0"}
    elif codec == "libvpx-vp9":
        options = {"crf": str(32 if crf is None else crf), "b": "0", "row-mt": "1",
                   "deadline": "realtime", "cpu-used": "8"}
    elif codec == "libwebp_anim":
        options = {"quality": str(80 if crf is None else max(0, 100 - crf)), "loop": "0"}
    stream.options = options
    if info.rotation:
        stream.set_display_rotation(info.rotation)
    return stream


def encode(stream: Any, container: Any, rgb: np.ndarray | None, pts: int | None) -> None:
    """Encode one RGB frame at ``pts`` (None flushes the encoder) and mux its packets."""
    av = _av()
    if rgb is None:
        packets = stream.encode(None)
    else:
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = pts
        frame.time_base = stream.codec_context.time_base  # the muxer may change stream.time_base
        packets = stream.encode(frame)
    container.mux(packets)


def audio_packets(info: VideoInfo, start: float, end: float) -> Iterator[Any]:
    """The input's audio packets from ``start`` to ``end`` s, timestamps shifted by ``start``
    (their stream is the input's: mux them with their ``stream`` replaced)."""
    av = _av()
    if info.audio is None:
        return
    with av.open(str(info.path)) as container:
        stream = container.streams.audio[0]
        tb = stream.time_base
        if start > 0:
            container.seek(int(start * av.time_base), backward=True)
        shift = round(Fraction(start).limit_denominator(1_000_000) / tb)
        for packet in container.demux(stream):
            if packet.pts is None or packet.size == 0:
                continue
            t = float(packet.pts * tb)
            if t + float((packet.duration or 0) * tb) <= start + 1e-6:
                continue
            if t >= end - 1e-6:
                break
            packet.pts -= shift
            packet.dts = packet.pts if packet.dts is None else packet.dts - shift
            if packet.pts < 0:
                continue
            yield packet


def add_audio_encoder(container: Any, codec: str, info: VideoInfo) -> Any:
    """An audio stream in ``container`` that encodes the input's audio again with ``codec``
    (for a container that does not take the input's codec as it is)."""
    av = _av()
    with av.open(str(info.path)) as source:
        src = source.streams.audio[0]
        rate, layout = src.rate, src.layout.name
    # Opus runs at 48 kHz only.
    stream = container.add_stream(codec, rate=48000 if codec == "libopus" else rate)
    stream.layout = layout
    return stream


def encoded_audio(info: VideoInfo, start: float, end: float, stream: Any) -> Iterator[Any]:
    """The input's audio from ``start`` to ``end`` s decoded and encoded again into
    ``stream`` (:func:`add_audio_encoder`), timed from 0 at ``start``; its packets in order."""
    av = _av()
    with av.open(str(info.path)) as container:
        source = container.streams.audio[0]
        if start > 0:
            container.seek(int(start * av.time_base), backward=True)
        samples = 0
        for frame in container.decode(source):
            if frame.pts is None:
                continue
            t = float(frame.pts * frame.time_base)
            rate = frame.sample_rate
            if t + frame.samples / rate <= start + 1e-6:
                continue
            if t >= end - 1e-6:
                break
            first = max(0, round((start - t) * rate))
            last = frame.samples if math.isinf(end) else min(frame.samples,
                                                             round((end - t) * rate))
            if (first, last) != (0, frame.samples):
                frame = _samples(frame, first, last)
            # Numbered by samples from the first one kept (the encoder resamples as needed).
            frame.pts, frame.time_base = samples, Fraction(1, rate)
            samples += frame.samples
            yield from stream.encode(frame)
        yield from stream.encode(None)


def _samples(frame: Any, first: int, last: int) -> Any:
    """Samples ``first`` to ``last`` of an audio frame, as a new frame."""
    av = _av()
    data = frame.to_ndarray()
    if frame.format.is_planar:
        data = data[:, first:last]
    else:
        channels = len(frame.layout.channels)
        data = data[:, first * channels:last * channels]
    out = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=frame.format.name,
                                     layout=frame.layout.name)
    out.sample_rate = frame.sample_rate
    return out


def decode_video(path: Path) -> Iterator[Any]:
    """The frames (PyAV frames) of a video written by :mod:`impasto.video`, in order."""
    av = _av()
    with av.open(str(path)) as container:
        yield from container.decode(container.streams.video[0])
