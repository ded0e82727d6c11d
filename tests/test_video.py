"""Video end to end on clips the tests make: a photo panned with known motion, a scene cut, a
sine-wave audio track, a variable frame rate, an animated GIF. Frame counts, timestamps, audio,
resume, temporal consistency, flat memory, and bad input (one line, exit code 2, nothing left
behind)."""

from __future__ import annotations

import json
import math
import tracemalloc
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

av = pytest.importorskip("av")
pytest.importorskip("cv2")

from impasto.video import io as vio  # noqa: E402
from impasto.video import stylize_frames  # noqa: E402
from impasto.video.render import VideoJob, render_video  # noqa: E402
from impasto.video.score import score_video  # noqa: E402
from tests.conftest import synthetic_rgb  # noqa: E402
from tests.test_cli import assert_one_line_error, run  # noqa: E402

W, H = 96, 64
RATE = 24


def scene(seed: int = 0) -> np.ndarray:
    """A textured picture larger than the frames, to pan across."""
    rng = np.random.default_rng(seed)
    base = synthetic_rgb(H * 2, W * 2, seed=seed).astype(np.float32)
    blobs = rng.integers(0, 255, (8, 12, 3)).astype(np.uint8)
    big = np.asarray(Image.fromarray(blobs).resize((W * 2, H * 2), Image.Resampling.BICUBIC))
    return np.clip(0.5 * base + 0.5 * big, 0, 255).astype(np.uint8)


def panned(n: int, *, cut_at: int | None = None) -> list[np.ndarray]:
    """``n`` frames panning 1 px right and 1 px down a frame (known motion); another scene from
    frame ``cut_at``."""
    frames = []
    for i in range(n):
        picture = scene(1 if cut_at is not None and i >= cut_at else 0)
        frames.append(np.ascontiguousarray(picture[i % H: i % H + H, i % W: i % W + W]))
    return frames


def write_clip(path: Path, frames: list[np.ndarray], *, audio: bool = True,
               times: list[float] | None = None, rotation: int = 0,
               audio_codec: str = "aac") -> Path:
    """An H.264 video (with a 440 Hz AAC track, or ``audio_codec``) of ``frames`` at ``times``
    (default 24 frames/s)."""
    tb = Fraction(1, 12288)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.codec_context.time_base = tb
        if rotation:
            stream.set_display_rotation(rotation)
        sound = out.add_stream(audio_codec, rate=44100) if audio else None
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            t = times[i] if times is not None else i / RATE
            frame.pts, frame.time_base = round(t / tb), tb
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        if sound is not None:
            seconds = (times[-1] if times else len(frames) / RATE) + 1 / RATE
            samples = int(44100 * seconds)
            wave = (0.3 * np.sin(2 * math.pi * 440 * np.arange(samples) / 44100)).astype(
                np.float32)
            for start in range(0, samples, 1024):
                chunk = wave[start:start + 1024][None, :]
                frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
                frame.sample_rate, frame.pts = 44100, start
                out.mux(sound.encode(frame))
            out.mux(sound.encode(None))
    return path


def decoded(path: Path) -> tuple[list[np.ndarray], list[float]]:
    frames, times = [], []
    with av.open(str(path)) as c:
        for f in c.decode(c.streams.video[0]):
            frames.append(f.to_ndarray(format="rgb24"))
            times.append(float(f.pts * f.time_base))
    return frames, times


def audio_seconds(path: Path) -> float:
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return 0.0
        return sum(f.samples for f in c.decode(c.streams.audio[0])) / 44100


def job(source: Path, output: Path, **changes: object) -> VideoJob:
    values: dict[str, object] = {"method": "adain", "styles": ["the-scream"],
                                 "options": {"encoder": "student-relu4_1"}}
    values.update(changes)
    return VideoJob(source, output=output, **values)  # type: ignore[arg-type]


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.mp4", panned(30))


def test_frames_timestamps_and_audio_are_kept(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    summary = render_video(job(clip, out))
    frames, times = decoded(out)
    _, source_times = decoded(clip)
    assert len(frames) == 30 == summary["frames"]
    assert frames[0].shape == (H, W, 3)
    assert times == pytest.approx(source_times, abs=1e-6)
    assert summary["audio"] == "copied (aac)"
    assert audio_seconds(out) == pytest.approx(audio_seconds(clip), abs=0.05)
    assert not list(tmp_path.glob(".*"))  # no work folder or temporary file left


def test_start_duration_and_size(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "part.mkv"
    summary = render_video(job(clip, out, start=0.5, duration=0.5, size=48))
    frames, times = decoded(out)
    assert len(frames) == 12 and frames[0].shape == (32, 48, 3)
    assert times[0] == pytest.approx(0.0) and times[-1] == pytest.approx(11 / RATE, abs=1e-3)
    assert 0.4 < audio_seconds(out) < 0.6
    assert summary["size"] == [48, 32]


def test_variable_frame_rate_and_rotation(tmp_path: Path) -> None:
    times = [0.0, 0.04, 0.05, 0.2, 0.21, 0.5, 0.52, 0.9]
    source = write_clip(tmp_path / "vfr.mp4", panned(len(times)), times=times, audio=False,
                        rotation=90)
    out = tmp_path / "out.mp4"
    render_video(job(source, out))
    _, got = decoded(out)
    assert got == pytest.approx(times, abs=1e-3)
    assert vio.probe(out).rotation == vio.probe(source).rotation != 0


def test_resume_makes_the_same_video(clip: Path, tmp_path: Path) -> None:
    """In a lossless codec, so that the pictures compared are the stylised frames themselves
    (H.264 through x264 made a segment of the same frames differ now and then from one run to
    the next, whether resumed or not: docs/guide.md, Video)."""
    whole = tmp_path / "whole.mkv"
    render_video(job(clip, whole, segment=8, codec="ffv1"))

    class Stop(Exception):
        pass

    def stop_at_13(p: Any) -> None:
        if p.frames == 13:
            raise Stop

    out = tmp_path / "resumed.mkv"
    with pytest.raises(Stop):
        render_video(job(clip, out, segment=8, codec="ffv1"), progress=stop_at_13)
    assert not out.exists()  # nothing presented as finished
    left = sorted(p.name for p in (tmp_path / ".resumed.mkv.impasto-work").iterdir())
    assert left == ["carry.npz", "seg-00000.nut", "state.json"]  # whole segments only
    summary = render_video(job(clip, out, segment=8, codec="ffv1", resume=True))
    assert summary["resumed_at"] == 8 and summary["made_now"] == 22
    a, _ = decoded(whole)
    b, _ = decoded(out)
    assert len(a) == len(b) == 30
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    # Other options do not go on with that run.
    with pytest.raises(Stop):
        render_video(job(clip, out.with_name("r2.mp4"), segment=8), progress=stop_at_13)
    from impasto.errors import InvalidOption

    with pytest.raises(InvalidOption, match="other inputs or options"):
        render_video(job(clip, out.with_name("r2.mp4"), segment=8, resume=True, temporal=0.5))


def test_temporal_mode_halves_the_warping_error(tmp_path: Path) -> None:
    source = write_clip(tmp_path / "pan.mp4", panned(24), audio=False)
    errors = {}
    for weight in (0.0, 0.7):
        out = tmp_path / f"t{weight}.mp4"
        render_video(job(source, out, temporal=weight, options={}))
        errors[weight] = score_video(source, out).short_term
    assert errors[0.7] <= 0.5 * errors[0.0], errors


def test_the_blend_keeps_the_contrast_of_textures_that_do_not_line_up() -> None:
    """Two unrelated textures blended come out as contrasty as the frame's own (a plain blend
    flattens them), two that agree come out unchanged (no gain builds up from frame to
    frame); AdaIN and WCT keep it, a network does not."""
    from impasto.video.temporal import KEEPS_CONTRAST, TemporalBlender, kept_contrast

    rng = np.random.default_rng(0)
    styled, previous = (rng.uniform(0, 1, (H, W, 3)).astype(np.float32) for _ in range(2))
    alpha = np.full((H, W), 0.5, np.float32)
    plain = 0.5 * styled + 0.5 * previous
    kept = kept_contrast(plain, styled, alpha)
    assert plain.std() < 0.75 * styled.std()
    assert kept.std() == pytest.approx(styled.std(), rel=0.1)
    assert np.abs(kept - plain).mean() > 0.05  # the detail scaled, not the picture moved
    assert kept.mean() == pytest.approx(plain.mean(), abs=0.01)
    assert np.allclose(kept_contrast(styled, styled, alpha), styled, atol=1e-4)
    assert {"adain", "wct"} == KEEPS_CONTRAST
    # In the blender: a still scene whose stylised texture changes every frame.
    frame = scene(0)[:H, :W]
    outputs = {}
    for keep in (False, True):
        blender = TemporalBlender(0.5, keep_contrast=keep)
        blender(frame, previous)
        outputs[keep] = blender(frame, styled)
    assert outputs[True].std() > 1.15 * outputs[False].std()


def test_a_steadied_input_holds_still_what_does_not_move() -> None:
    """AdaIN steadies its input: a still scene whose grain changes every frame is painted from
    pictures whose grain settles, a moving scene is carried along its motion, and a new scene
    starts from its own frame."""
    from dataclasses import replace

    from impasto.video.temporal import METHOD_MOTION, MotionEstimator

    rng = np.random.default_rng(0)
    still = scene(0)[:H, :W].astype(np.float32)
    grainy = [np.clip(still + rng.normal(0, 6, still.shape), 0, 255).astype(np.uint8)
              for _ in range(12)]
    steady = METHOD_MOTION["adain"]
    assert steady.steady > 0 and METHOD_MOTION["network"].steady == 0
    estimator = MotionEstimator(steady)
    painted = [estimator(f).picture for f in grainy]
    assert np.array_equal(painted[0], grainy[0])  # nothing to steady it with yet

    def change(frames: list[np.ndarray]) -> float:
        """Mean absolute change from frame to frame, once the grain has settled."""
        return float(np.mean([np.abs(a.astype(float) - b).mean()
                              for a, b in pairwise(frames[6:])]))

    assert change(painted) < 0.6 * change(grainy)  # type: ignore[arg-type]
    # A pan: the steadied frames stay the frames (carried along the flow, not smeared).
    estimator = MotionEstimator(steady)
    moving = panned(12, cut_at=8)
    carried = [estimator(f).picture for f in moving]
    assert estimator.cuts == 1 and np.array_equal(carried[8], moving[8])
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(carried[7][inner].astype(float) - moving[7][inner]).mean() < 6.0
    assert MotionEstimator(replace(steady, steady=0.0))(moving[0]).picture is None


def test_a_scene_cut_starts_afresh(tmp_path: Path) -> None:
    source = write_clip(tmp_path / "cut.mp4", panned(16, cut_at=8), audio=False)
    summary = render_video(job(source, tmp_path / "out.mp4"))
    assert summary["scene_cuts"] == 1


def test_animated_gif_in_and_out(tmp_path: Path) -> None:
    pictures = [Image.fromarray(f) for f in panned(10)]
    source = tmp_path / "anim.gif"
    pictures[0].save(source, save_all=True, append_images=pictures[1:], duration=80, loop=0)
    for suffix in (".gif", ".webp"):
        out = tmp_path / f"out{suffix}"
        summary = render_video(job(source, out))
        assert summary["frames"] == 10
        with Image.open(out) as picture:
            assert picture.n_frames == 10
            assert picture.size == (W, H)


def test_animated_webp_in(tmp_path: Path) -> None:
    """FFmpeg reads no animated WebP: Pillow does, with each frame's own duration."""
    pictures = [Image.fromarray(f) for f in panned(6)]
    source = tmp_path / "anim.webp"
    pictures[0].save(source, save_all=True, append_images=pictures[1:], lossless=True,
                     duration=[80, 80, 200, 80, 80, 80], loop=0)
    out = tmp_path / "out.mp4"
    summary = render_video(job(source, out))
    assert summary["frames"] == 6 and summary["input"]["codec"] == "webp"
    _, times = decoded(out)
    assert times == pytest.approx([0.0, 0.08, 0.16, 0.36, 0.44, 0.52], abs=1e-3)
    cut = render_video(job(source, tmp_path / "cut.mp4", start=0.1, duration=0.3))
    assert cut["frames"] == 2  # the frames at 0.16 and 0.36 s


def test_frames_api_streams_with_flat_memory() -> None:
    def frames(n: int):  # type: ignore[no-untyped-def]
        for i in range(n):
            yield panned(1)[0] if i % 2 else panned(2)[1]

    peaks = []
    for n in (10, 40):
        tracemalloc.start()
        count = sum(1 for out in stylize_frames(frames(n), "the-scream", method="adain",
                                                options={"encoder": "student-relu4_1"})
                    if out.shape == (H, W, 3) and out.dtype == np.uint8)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert count == n
    assert peaks[1] < 1.25 * peaks[0], peaks


def test_frames_in_a_stream_are_the_frames_one_by_one() -> None:
    """The stream works out each frame's motion in a second thread, ahead: the same frames as
    stylising them one call at a time (and as again)."""
    from impasto.video import FrameStylizer

    frames = panned(12, cut_at=7)
    options = {"encoder": "student-relu4_1"}
    one = FrameStylizer("the-scream", method="adain", options=options, temporal=0.6)
    by_call = [one(f) for f in frames]
    streamed = list(stylize_frames(frames, "the-scream", method="adain", options=options,
                                   temporal=0.6))
    assert one.blender.cuts == 1
    assert all(np.array_equal(a, b) for a, b in zip(by_call, streamed, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(by_call, stylize_frames(
        frames, "the-scream", method="adain", options=options, temporal=0.0), strict=True))


def test_a_network_paints_two_frames_at_once_with_the_same_output(tmp_path: Path) -> None:
    """In onnxruntime the stream paints two frames at once (in whatever order the threads
    finish): the frames, their order and the blend are those of one call at a time."""
    import torch

    from impasto.models import architecture, save_model
    from impasto.video import FrameStylizer

    torch.manual_seed(0)
    folder = save_model(tmp_path / "net", architecture("fast").build().eval(), "fast", {},
                        {"name": "tiny"})
    frames = panned(10, cut_at=6)
    options = {"model": str(folder), "backend": "onnx"}
    one = FrameStylizer(method="network", options=options, temporal=0.5)
    by_call = [one(f) for f in frames]
    streamed = FrameStylizer(method="network", options=options, temporal=0.5)
    assert streamed.painters() == 2 and one.blender.cuts == 1
    tagged = list(streamed.stream(enumerate(frames)))
    assert [tag for tag, _ in tagged] == list(range(10)) and streamed.frames == 10
    assert all(np.array_equal(a, b) for a, b in zip(by_call, (o for _, o in tagged),
                                                     strict=True))
    assert streamed.record is not None and streamed.record["model"]["name"] == "tiny"
    assert FrameStylizer(method="network", options={**options, "backend": "torch"}
                         ).painters() == 1
    assert FrameStylizer("the-scream", method="optimize").painters() == 1


def test_cli_video_and_score(clip: Path, tmp_path: Path, style_png: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.mp4"
    code, stdout, err = run(capsys, "video", clip, "the-scream", "-o", out, "--encoder",
                            "student-relu4_1", "--json", "--device", "cpu")
    assert code == 0, err
    assert json.loads(stdout)["frames"] == 30
    assert "licence" not in err  # a built-in style: its licence is known
    code, _, err = run(capsys, "video", clip, style_png, "-o", tmp_path / "own.mp4",
                       "--encoder", "student-relu4_1", "--duration", "0.3", "--device", "cpu")
    assert code == 0, err
    assert "licence of style.png is unknown" in " ".join(err.split())
    code, stdout, err = run(capsys, "score-video", clip, out, "--json")
    assert code == 0, err
    scores = json.loads(stdout)
    assert scores["frames"] == 30 and scores["warping_error_short"] > 0


def test_cli_video_precision_reaches_every_frame(clip: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """``--precision fp32`` (a CPU without bf16) is what each frame's network runs in."""
    from impasto.pipeline import Pipeline

    chosen: list[str] = []
    original = Pipeline.render

    def spy(self, request, **kwargs):  # type: ignore[no-untyped-def]
        chosen.append(self.runtime(request.method, request.options).precision)
        return original(self, request, **kwargs)

    monkeypatch.setattr(Pipeline, "render", spy)
    code, _, err = run(capsys, "video", clip, "the-scream", "-o", tmp_path / "fp32.mp4",
                       "--precision", "fp32", "--duration", "0.2", "--device", "cpu",
                       "--no-provenance")
    assert code == 0, err
    assert chosen and set(chosen) == {"fp32"}


def _bad(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.mp4"
    if kind == "text":
        path.write_text("not a video")
    elif kind == "audio_only":
        with av.open(str(path), "w") as out:
            sound = out.add_stream("aac", rate=44100)
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt",
                                               layout="mono")
            frame.sample_rate, frame.pts = 44100, 0
            out.mux(sound.encode(frame))
            out.mux(sound.encode(None))
    elif kind == "no_frames":
        with av.open(str(path), "w") as out:
            stream = out.add_stream("libx264", rate=RATE)
            stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
            out.start_encoding()  # the header, and no frame
    elif kind == "truncated":
        whole = write_clip(tmp_path / "whole.mp4", panned(10), audio=False).read_bytes()
        path.write_bytes(whole[: len(whole) // 3])
    return path


@pytest.mark.parametrize("kind,needle", [("text", "not a readable video"),
                                         ("audio_only", "no video stream"),
                                         ("no_frames", "no video"),
                                         ("truncated", "not a readable video")])
def test_bad_videos(tmp_path: Path, kind: str, needle: str,
                    capsys: pytest.CaptureFixture[str]) -> None:
    source = _bad(tmp_path, kind)
    out = tmp_path / "out.mp4"
    code, _, err = run(capsys, "video", source, "the-scream", "-o", out)
    assert_one_line_error(code, err, source.name, needle)
    assert not out.exists() and not list(tmp_path.glob(".out*"))


@pytest.mark.parametrize("args,needle", [
    (["--start", "5"], "past the end"),
    (["--codec", "gif"], "does not take the codec gif"),
    (["--temporal", "1.5"], "temporal"),
    (["--crf", "99"], "crf"),
])
def test_bad_options(clip: Path, tmp_path: Path, args: list[str], needle: str,
                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.mp4"
    code, _, err = run(capsys, "video", clip, "the-scream", "-o", out, *args)
    assert_one_line_error(code, err, needle)
    assert not out.exists()


def test_unwritable_output_and_the_input_itself(clip: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("x")
    code, _, err = run(capsys, "video", clip, "the-scream", "-o", blocked / "out.mp4")
    assert_one_line_error(code, err, "cannot create the folder")
    code, _, err = run(capsys, "video", clip, "the-scream", "-o", clip)
    assert_one_line_error(code, err, "is an input of this run")
    assert clip.stat().st_size > 0


def test_live_camera_blends_and_records(tmp_path: Path) -> None:
    import torch

    from impasto.api import NetworkStylizer
    from impasto.models import architecture, save_model
    from impasto.webcam import LiveStylizer, Recorder

    torch.manual_seed(0)
    folder = save_model(tmp_path / "net", architecture("fast").build().eval(), "fast", {},
                        {"name": "tiny"})
    frames = panned(6)
    outputs = {}
    for weight in (0.0, 0.5):
        live = LiveStylizer([NetworkStylizer(str(folder), backend="torch")], weight)
        outputs[weight] = [live(f) for f in frames]
        assert all(o.shape == (H, W, 3) and o.dtype == np.uint8 for o in outputs[weight])
    assert np.array_equal(outputs[0.0][0], outputs[0.5][0])  # nothing to blend with yet
    assert not np.array_equal(outputs[0.0][-1], outputs[0.5][-1])
    from impasto.provenance.inspect import inspect_file
    from impasto.provenance.signing import default_signer
    from impasto.webcam import camera_record

    recorder = Recorder(tmp_path / "shown.mp4", signer=default_signer(),
                        record=camera_record(live, 0, 96, 0.5))
    for out in outputs[0.5]:
        recorder.write(out)
    recorder.close()
    got, times = decoded(tmp_path / "shown.mp4")
    assert len(got) == 6 and times == sorted(times)
    assert not list(tmp_path.glob(".shown*"))
    signed = inspect_file(tmp_path / "shown.mp4")
    assert signed.state == "untrusted" and signed.record is not None  # the local test CA
    assert [i["relationship"] for i in signed.ingredients] == ["inputTo"]  # the network


def test_optimisation_video_starts_each_frame_from_the_last(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    from impasto.pipeline import Pipeline

    source = write_clip(tmp_path / "pan.mp4", panned(6), audio=False)
    starts: list[bool] = []
    original = Pipeline.render

    fills: list[str] = []

    def spy(self, request, **kwargs):  # type: ignore[no-untyped-def]
        if request.options.iterations == 0:  # where the flow fails: a still's start
            fills.append(request.options.init)
        else:
            assert (request.init is None) == (request.temporal is None)
            assert request.temporal is None or request.temporal.weight > 0
            # After the first frame, L-BFGS starts from what it learnt on the frame before.
            assert (request.init is None
                    or (request.lbfgs_memory is not None and request.lbfgs_memory.scale))
            starts.append(request.init is not None)
        return original(self, request, **kwargs)

    monkeypatch.setattr(Pipeline, "render", spy)
    errors = {}
    for weight in (0.0, 0.7):
        out = tmp_path / f"opt{weight}.mp4"
        render_video(job(source, out, method="optimize", temporal=weight,
                         options={"seed": 0, "iterations": 12}))
        errors[weight] = score_video(source, out).short_term
    assert starts == [False] * 6 + [False] + [True] * 5
    assert fills and set(fills) == {"adain"}  # the pan uncovers a strip every frame
    assert errors[0.7] <= 0.5 * errors[0.0], errors


def test_audio_the_container_cannot_take_is_encoded_again(tmp_path: Path) -> None:
    source = write_clip(tmp_path / "flac.mkv", panned(24), audio_codec="flac")
    assert vio.probe(source).audio == "flac"
    out = tmp_path / "out.mp4"
    summary = render_video(job(source, out))
    assert summary["audio"].startswith("encoded again (flac does not go in .mp4")
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.name == "aac"
    assert audio_seconds(out) == pytest.approx(audio_seconds(source), abs=0.05)
    cut = tmp_path / "cut.mp4"
    render_video(job(source, cut, start=0.25, duration=0.5))
    assert audio_seconds(cut) == pytest.approx(0.5, abs=0.05)


def test_pixel_format_and_colour_range_are_carried(tmp_path: Path) -> None:
    source = tmp_path / "444.mkv"
    with av.open(str(source), "w") as out:
        stream = out.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv444p"
        stream.codec_context.color_range = 2  # full ("JPEG") range
        for i, rgb in enumerate(panned(4)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    result = tmp_path / "out.mkv"
    render_video(job(source, result))
    got, want = vio.probe(result), vio.probe(source)
    # Decoders name full-range 4:4:4 "yuvj444p": the same samples.
    assert got.pix_fmt.replace("yuvj", "yuv") == want.pix_fmt.replace("yuvj", "yuv") == "yuv444p"
    assert got.color_range == want.color_range == 2


def test_an_optimised_video_goes_on_with_the_optimisers_memory() -> None:
    """What a resumed run restores (the blend's state and L-BFGS's memory, saved as arrays)
    makes the next frame exactly as an uninterrupted run does."""
    import io

    from impasto.video import FrameStylizer

    frames = panned(4)
    options = {"seed": 0, "iterations": 4, "init": "content"}
    whole = FrameStylizer("the-scream", method="optimize", options=options)
    want = [whole(f) for f in frames]
    first = FrameStylizer("the-scream", method="optimize", options=options)
    for f in frames[:3]:
        first(f)
    buffer = io.BytesIO()
    np.savez(buffer, **first.state())
    buffer.seek(0)
    saved = dict(np.load(buffer))
    assert {"lbfgs_scale", "lbfgs_steps", "output"} <= set(saved)
    then = FrameStylizer("the-scream", method="optimize", options=options)
    then.restore(saved)
    assert np.array_equal(then(frames[3]), want[3])
    fresh = FrameStylizer("the-scream", method="optimize", options=options)
    fresh.restore({k: v for k, v in saved.items() if not k.startswith("lbfgs_")})
    assert not np.array_equal(fresh(frames[3]), want[3])  # the memory changes the frame


def test_a_cancelled_token_stops_the_frame_being_made() -> None:
    """The token reaches the frame's render: an optimisation frame (minutes on a CPU) stops
    at its next step, not after the frame (the job service's cancel)."""
    from impasto import Cancelled, CancelToken
    from impasto.video import FrameStylizer

    token = CancelToken()
    steps: list[int] = []
    stylizer = FrameStylizer("the-scream", method="optimize",
                             options={"iterations": 400, "init": "content"}, cancel=token)
    original = stylizer.pipeline.render

    def counting(request: Any, **kwargs: Any) -> Any:
        def step(event: Any) -> None:
            if event.stage == "step":
                steps.append(event.step)
                if len(steps) == 3:
                    token.cancel()
        return original(request, callback=step, **kwargs)

    stylizer.pipeline.render = counting  # type: ignore[method-assign]
    with pytest.raises(Cancelled):
        stylizer(synthetic_rgb(48, 64))
    assert 3 <= len(steps) <= 5 and stylizer.frames == 0
