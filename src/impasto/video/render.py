"""``impasto video``: a video file stylised frame by frame with temporal consistency,
streamed (memory stays flat with the length), resumable, written atomically.

The frames are encoded in segments (``SEGMENT`` frames each) in a work folder beside the output
(``.OUT.impasto-work/``) with the state needed to go on: the frames done, and the temporal
blender's state after the last segment. An interrupted run (Ctrl-C, kill, crash) goes on from
the last whole segment with ``resume=True`` and makes the same output as an uninterrupted one.
The segments are joined with the input's audio into a temporary file that is renamed to the
output only when complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from impasto._version import __version__
from impasto.errors import InvalidImage, InvalidOption, OutputError
from impasto.image.guard import refuse_overwriting_inputs
from impasto.video import io as vio
from impasto.video.frames import FrameStylizer, even_size

#: Frames per segment: what an interrupted run may have to redo.
SEGMENT = 48


@dataclass
class VideoJob:
    """What one ``impasto video`` run asks for."""

    input: Path
    styles: Sequence[Any]
    output: Path
    method: str = "adain"
    options: dict[str, Any] = field(default_factory=dict)
    temporal: float | None = None  # None: the method's default
    size: int | None = None
    start: float = 0.0
    duration: float | None = None
    crf: int | None = None
    codec: str | None = None
    device: str = "cpu"
    #: Go on with an interrupted run of the same job (True: there must be one; "auto": if
    #: there is one, else start afresh, as the job service's retries after a killed worker).
    resume: bool | str = False
    segment: int = SEGMENT
    #: The signer of the output's C2PA manifest (True: the default one), or False: none.
    provenance: Any = True
    style_terms: list[dict[str, str]] = field(default_factory=list)


@dataclass
class VideoProgress:
    frames: int
    total: int  # an estimate (0: unknown)
    elapsed: float
    #: The frame just made, (H, W, 3) uint8, for a live preview (read it, do not keep it).
    image: np.ndarray | None = None


def render_video(job: VideoJob, *, progress: Callable[[VideoProgress], None] | None = None,
                 stylizer: FrameStylizer | None = None) -> dict[str, Any]:
    """Stylise ``job.input`` into ``job.output``; return a summary. Everything is checked
    before the first frame."""
    started = time.perf_counter()
    info = vio.probe(job.input)
    output = Path(job.output)
    if output.is_dir():
        raise OutputError(f"the output {output} is a folder: give a video's file name "
                          f"(e.g. -o {output / 'out.mp4'})")
    fmt, codec, audio_codec = vio.output_format(output, job.codec)
    _check_paths(job, info, output)
    if job.start < 0 or (job.duration is not None and job.duration <= 0):
        raise InvalidOption("--start must be >= 0 and --duration > 0")
    if info.duration and job.start >= info.duration:
        raise InvalidOption(f"--start {job.start:g} s is past the end of {info.path.name} "
                            f"({info.duration:.2f} s)")
    if job.crf is not None and not 0 <= job.crf <= 63:
        raise InvalidOption(f"--crf must be between 0 and 63, not {job.crf}")
    size = even_size(info.height, info.width, job.size)
    stylizer = stylizer or FrameStylizer(job.styles, method=job.method, options=job.options,
                                         temporal=job.temporal, device=job.device,
                                         style_terms=job.style_terms)
    work = output.parent / f".{output.name}.impasto-work"
    fingerprint = _fingerprint(job, info, size, codec)
    state = _start_state(work, fingerprint, job.resume)
    if state["done"]:
        stylizer.restore(dict(np.load(work / "carry.npz")))
    segment_codec = codec if codec not in ("gif", "libwebp_anim") else "ffv1"
    total = _estimate_frames(info, job)
    done = state["done"]
    flow_before = stylizer.blender.flow_seconds
    try:
        frames = _stylise_all(job, info, size, stylizer, work, state, segment_codec, total,
                              started, progress)
    except OSError as exc:  # a full disk ...: one line, the whole segments kept
        raise OutputError(_not_written(output, work, exc)) from None
    made = frames - done
    flow_seconds = stylizer.blender.flow_seconds - flow_before
    if frames <= 0:
        shutil.rmtree(work, ignore_errors=True)
        raise InvalidImage(f"no frames in {info.path.name} from {job.start:g} s")
    signer, provenance = _signer(job, output)
    summary = {"frames": frames, "size": [size[1], size[0]], "codec": codec,
               "temporal": stylizer.blender.weight, "start": job.start,
               "duration": job.duration, "crf": job.crf, "scene_cuts": stylizer.blender.cuts}

    def sign(source: Path, target: Path) -> None:
        signer.sign_file(source, target, video_record(stylizer, info, job, summary),
                         output.name)

    try:
        audio = _join(work, output, fmt, codec, audio_codec, info, job, size,
                      sign if signer is not None else None)
    except OSError as exc:
        raise OutputError(_not_written(output, work, exc)) from None
    shutil.rmtree(work, ignore_errors=True)
    seconds = time.perf_counter() - started
    return {"output": str(output), "frames": frames, "made_now": made,
            "resumed_at": done or None, "size": [size[1], size[0]],
            "seconds": round(seconds, 3), "fps": round(made / seconds, 2) if seconds else None,
            "flow_ms_per_frame": round(1000 * flow_seconds / made, 2) if made else None,
            "scene_cuts": stylizer.blender.cuts, "audio": audio, "codec": codec,
            "method": stylizer.method, "temporal": stylizer.blender.weight,
            "input": info.to_dict(), "provenance": provenance,
            "styles": list((stylizer.record or {}).get("styles") or ())}


def _signer(job: VideoJob, output: Path) -> tuple[Any, str]:
    """The signer for this output (None: none) and what the summary says of provenance."""
    from impasto.provenance.signing import can_sign, resolve_signer

    if job.provenance is False:
        return None, "off (--no-provenance)"
    if not can_sign(output):
        return None, f"none: C2PA manifests do not go in {output.suffix} files"
    signer = resolve_signer(job.provenance)
    assert signer is not None
    return signer, f"signed C2PA manifest ({signer.credentials.origin})"


def video_record(stylizer: FrameStylizer, info: vio.VideoInfo, job: VideoJob,
                 summary: dict[str, Any]) -> dict[str, Any]:
    """The provenance record of a video: the last frame's (method, options, styles and
    models), the input video as the content, and how the frames were made."""
    from impasto.provenance import build_record

    frame = stylizer.record or {}
    digest = hashlib.sha256()
    with open(info.path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    styles = [dict(s) for s in frame.get("styles") or ()]
    parts = {k: v for k, v in frame.items()
             if k in ("model", "encoder", "decoders", "init", "temporal_loss")}
    return build_record(method=stylizer.method, options=frame.get("options") or {},
                        runtime={"device": frame.get("device"),
                                 "precision": frame.get("precision"),
                                 "backend": frame.get("backend")},
                        seconds=0.0, content={"name": info.path.name,
                                              "sha256": digest.hexdigest()},
                        styles=styles, video=summary, **parts)


def _stylise_all(job: VideoJob, info: vio.VideoInfo, size: tuple[int, int],
                 stylizer: FrameStylizer, work: Path, state: dict[str, Any], segment_codec: str,
                 total: int, started: float,
                 progress: Callable[[VideoProgress], None] | None) -> int:
    """Every frame not done yet, stylised and encoded segment by segment; the number of
    frames. An interruption leaves only whole segments behind."""
    done = state["done"]
    index = done - 1
    writer: _Segment | None = None

    def todo() -> Iterator[tuple[tuple[int, int], np.ndarray]]:
        for i, frame in enumerate(vio.read_frames(info, start=job.start,
                                                  duration=job.duration)):
            if i >= done:
                rgb = frame.rgb if frame.rgb.shape[:2] == size else _resize(frame.rgb, size)
                yield (i, frame.pts), rgb

    try:
        for (index, pts), out in stylizer.stream(todo()):
            if writer is None or index % job.segment == 0:
                writer = _Segment(work / f"seg-{index // job.segment:05d}.nut", segment_codec,
                                  info, size, job.crf)
            writer.write(out, pts)
            if (index + 1) % job.segment == 0:
                writer.close()
                writer = None
                _save_state(work, state, index + 1, stylizer)
            if progress is not None:
                progress(VideoProgress(index + 1, max(total, index + 1),
                                       time.perf_counter() - started, out))
        if writer is not None:
            writer.close()
            writer = None
            _save_state(work, state, index + 1, stylizer)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    return index + 1


def _resize(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    h, w = size
    shrink = h * w < rgb.shape[0] * rgb.shape[1]
    return cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def _not_written(output: Path, work: Path, exc: OSError) -> str:
    reason = exc.strerror or str(exc) or type(exc).__name__
    return (f"{output} was not written: {' '.join(reason.split())} (the whole segments are "
            f"kept in {work}: the same command with --resume goes on from them)")


def _check_paths(job: VideoJob, info: vio.VideoInfo, output: Path) -> None:
    # Through symlinks and hard links too: the input video, a style picture.
    refuse_overwriting_inputs(output, [info.path, *job.styles])
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder of {output}: {exc.strerror}") from None
    if not os.access(output.parent, os.W_OK):
        raise OutputError(f"cannot write to {output.parent}")


def _fingerprint(job: VideoJob, info: vio.VideoInfo, size: tuple[int, int],
                 codec: str) -> str:
    stat = info.path.stat()
    styles = [s.name if hasattr(s, "name") and not isinstance(s, str | os.PathLike)
              else str(s) for s in job.styles]
    parts = {"input": [str(info.path.resolve()), stat.st_size, stat.st_mtime_ns],
             "styles": styles, "method": job.method, "options": job.options,
             "temporal": job.temporal, "size": size, "start": job.start,
             "duration": job.duration, "crf": job.crf, "codec": codec,
             "segment": job.segment, "version": __version__}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _start_state(work: Path, fingerprint: str, resume: bool | str) -> dict[str, Any]:
    path = work / "state.json"
    if resume and path.is_file():
        try:
            state = json.loads(path.read_text())
        except ValueError:  # cut short by a kill while it was first written
            state = {}
        if state.get("fingerprint") == fingerprint:
            return state
        if resume != "auto":
            raise InvalidOption("the interrupted run of this output was made from other "
                                "inputs or options: run again without --resume to start "
                                "afresh")
    elif resume and resume != "auto":
        raise InvalidOption("--resume: there is no interrupted run of this output to go on "
                            "with")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    state = {"fingerprint": fingerprint, "done": 0}
    path.write_text(json.dumps(state))  # --resume finds the run even before a whole segment
    return state


def _save_state(work: Path, state: dict[str, Any], done: int, stylizer: FrameStylizer
                ) -> None:
    """After a whole segment: the temporal state, then the count (each written atomically)."""
    tmp = work / "carry.part.npz"
    np.savez(tmp, **stylizer.state())
    os.replace(tmp, work / "carry.npz")
    state["done"] = done
    (work / "state.part.json").write_text(json.dumps(state))
    os.replace(work / "state.part.json", work / "state.json")


def _estimate_frames(info: vio.VideoInfo, job: VideoJob) -> int:
    if info.rate and info.duration:
        span = info.duration - job.start
        if job.duration is not None:
            span = min(span, job.duration)
        return max(1, round(span * float(info.rate)))
    return info.frames


class _Segment:
    """One segment file of encoded frames (NUT keeps any codec and the input's time base),
    written to ``.part`` and renamed when whole. Frames are converted and encoded in the
    calling thread: FFmpeg's colour conversion run from two threads at once made a segment
    differ now and then from one run to the next."""

    def __init__(self, path: Path, codec: str, info: vio.VideoInfo, size: tuple[int, int],
                 crf: int | None) -> None:
        av = vio._av()
        self.path = path
        self.part = path.with_name(path.name + ".part")
        self.container = av.open(str(self.part), "w", format="nut")
        self.stream = vio.open_encoder(self.container, codec, info, size, crf=crf)

    def write(self, rgb: np.ndarray, pts: int) -> None:
        vio.encode(self.stream, self.container, rgb, pts)

    def close(self) -> None:
        vio.encode(self.stream, self.container, None, None)
        self.container.close()
        os.replace(self.part, self.path)

    def abort(self) -> None:
        """An interrupted segment: its file removed (a resumed run makes it again from its
        first frame)."""
        with contextlib.suppress(Exception):  # a half-written file may fail to close
            self.container.close()
        self.part.unlink(missing_ok=True)


def _join(work: Path, output: Path, fmt: str, codec: str, audio_codec: str | None,
          info: vio.VideoInfo, job: VideoJob, size: tuple[int, int],
          sign: Callable[[Path, Path], None] | None = None) -> str:
    """The segments and the input's audio into ``output`` (through a temporary file, signed
    into a second one by ``sign``); what became of the audio."""
    av = vio._av()
    segments = sorted(work.glob("seg-*.nut"))
    tmp = output.parent / f".{output.stem}.part{output.suffix}"
    signed = output.parent / f".{output.stem}.signed{output.suffix}"
    end = job.start + job.duration if job.duration is not None else float("inf")
    audio = "none in the input" if info.audio is None else "dropped (the format has none)"
    try:
        with av.open(str(tmp), "w", format=fmt) as out:
            if codec in ("gif", "libwebp_anim"):
                _animation(out, codec, info, size, job.crf, segments)
            else:
                audio = _stream_copy(out, fmt, output, info, job, end, segments,
                                     audio_codec, audio)
        if sign is not None:
            sign(tmp, signed)
            tmp.unlink()
            tmp = signed
        os.replace(tmp, output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        signed.unlink(missing_ok=True)
        raise
    return audio


def _animation(out: Any, codec: str, info: vio.VideoInfo, size: tuple[int, int],
               crf: int | None, segments: list[Path]) -> None:
    """GIF / WebP: the FFV1 segments encoded once more."""
    stream = vio.open_encoder(out, codec, info, size, crf=crf)
    for seg in segments:
        for frame in vio.decode_video(seg):
            vio.encode(stream, out, frame.to_ndarray(format="rgb24"), frame.pts)
    vio.encode(stream, out, None, None)


def _stream_copy(out: Any, fmt: str, output: Path, info: vio.VideoInfo, job: VideoJob,
                 end: float, segments: list[Path], audio_codec: str | None, audio: str) -> str:
    """The segments' packets as they are, with the input's audio, in time order; what became
    of the audio."""
    av = vio._av()
    with av.open(str(segments[0])) as first:
        stream = out.add_stream_from_template(first.streams.video[0])
    if info.rotation:
        stream.set_display_rotation(info.rotation)
    sound: Iterator[tuple[float, Any]] = iter(())
    if info.audio is not None and audio_codec is not None:
        copyable = vio.COPYABLE_AUDIO.get(fmt)
        if copyable is None or info.audio in copyable:
            with av.open(str(info.path)) as src:
                audio_out = out.add_stream_from_template(src.streams.audio[0])
            sound = _audio(vio.audio_packets(info, job.start, end), audio_out)
            audio = f"copied ({info.audio})"
        else:
            audio_out = vio.add_audio_encoder(out, audio_codec, info)
            sound = _audio(vio.encoded_audio(info, job.start, end, audio_out), audio_out)
            audio = f"encoded again ({info.audio} does not go in {output.suffix}: " \
                    f"{audio_out.codec_context.name})"
    for _, packet in heapq.merge(_video_packets(segments), sound, key=lambda item: item[0]):
        out.mux(packet)
    return audio


def _video_packets(segments: list[Path]) -> Iterator[tuple[float, Any]]:
    av = vio._av()
    for seg in segments:
        with av.open(str(seg)) as container:
            for packet in container.demux(container.streams.video[0]):
                if packet.size == 0:
                    continue
                # A packet without a decoding time is ordered by its presentation time (the
                # muxer fills the former in).
                when = packet.dts if packet.dts is not None else packet.pts
                yield float(when * packet.time_base), packet


def _audio(packets: Iterator[Any], stream: Any) -> Iterator[tuple[float, Any]]:
    """Audio packets for ``stream`` of the output, with the time they are muxed at."""
    for packet in packets:
        packet.stream = stream
        yield float(packet.dts * packet.time_base), packet
