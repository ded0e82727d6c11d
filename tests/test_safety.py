"""A user's files are safe and odd input is refused in one line (issue 27): no input is ever
written over (through links too), pictures too thin to paint are refused with the size that
works, an animated content says which frame was used, Ctrl-C and a full disk leave nothing
half-written, and the live camera takes every instant method."""

from __future__ import annotations

import errno
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from impasto.cli.main import main
from tests.conftest import synthetic_rgb
from tests.test_cli import assert_one_line_error, run

FAST = ["--size", "48", "--iterations", "4", "--seed", "1"]


def picture(path: Path, h: int = 48, w: int = 64, seed: int = 1) -> Path:
    Image.fromarray(synthetic_rgb(h, w, seed=seed)).save(path)
    return path


def parts_left(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if ".part" in p.name]


# ------------------------------------------------------------------ 1. inputs never overwritten


@pytest.mark.parametrize("link", ["same", "symlink", "hardlink"])
@pytest.mark.parametrize("which", ["content", "style", "mask", "init"])
def test_an_output_that_is_an_input_is_refused(tmp_path: Path, which: str, link: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    content = picture(tmp_path / "photo.png")
    style = picture(tmp_path / "style.png", 64, 64, seed=2)
    mask = tmp_path / "mask.png"
    Image.new("L", (64, 48), 255).save(mask)
    init = picture(tmp_path / "start.png", seed=3)
    target = {"content": content, "style": style, "mask": mask, "init": init}[which]
    before = target.read_bytes()
    out = target
    if link == "symlink":
        out = tmp_path / "elsewhere" / "link.png"
        out.parent.mkdir()
        out.symlink_to(target)
    elif link == "hardlink":
        out = tmp_path / "hard.png"
        os.link(target, out)
    args = ["stylize", content, style, "-o", out, *FAST, "--device", "cpu"]
    if which == "mask":
        args += ["--mask", f"{mask}=1"]
    if which == "init":
        args += ["--init", init]
    code, _, err = run(capsys, *args)
    assert_one_line_error(code, err, "is an input of this run", str(target.name))
    assert target.read_bytes() == before
    assert not parts_left(tmp_path)


def test_texture_sweep_and_stdin_refuse_their_inputs(tmp_path: Path, style_png: Path,
                                                     content_png: Path,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    before = style_png.read_bytes()
    code, _, err = run(capsys, "texture", style_png, "-o", style_png, *FAST)
    assert_one_line_error(code, err, "is an input")
    code, _, err = run(capsys, "sweep", content_png, style_png, "-o", style_png,
                       "--param", "strength=0.2,0.8", "--size", "32")
    assert_one_line_error(code, err, "is an input")
    assert style_png.read_bytes() == before
    before = content_png.read_bytes()
    code, _, err = run(capsys, "sweep", content_png, style_png, "-o", content_png,
                       "--param", "strength=0.2,0.8", "--size", "32")
    assert_one_line_error(code, err, "is an input")
    assert content_png.read_bytes() == before


def test_a_folder_written_onto_itself_is_refused(tmp_path: Path, style_png: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    a = picture(photos / "a.png")
    picture(photos / "b.jpg", seed=4)
    before = {p.name: p.read_bytes() for p in photos.iterdir()}
    code, _, err = run(capsys, "stylize", photos, style_png, "-o", photos, "--method", "adain")
    assert_one_line_error(code, err, str(a), "another output folder")
    assert {p.name: p.read_bytes() for p in photos.iterdir()} == before
    # The same folder through a link to it is the same folder.
    (tmp_path / "alias").symlink_to(photos)
    code, _, err = run(capsys, "stylize", photos, style_png, "-o", tmp_path / "alias",
                       "--method", "adain")
    assert_one_line_error(code, err, "another output folder")
    assert {p.name: p.read_bytes() for p in photos.iterdir()} == before


def test_an_output_that_is_a_folder_says_so(tmp_path: Path, content_png: Path,
                                            style_png: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "out.png"  # a folder, whatever its name says
    folder.mkdir()
    for args in (["stylize", content_png, style_png, "-o", folder, "--method", "adain"],
                 ["texture", style_png, "-o", folder, *FAST],
                 ["sweep", content_png, style_png, "-o", folder, "--param", "strength=0.5",
                  "--size", "32"],
                 ["export", "adain-relu4_1", "-o", folder]):
        code, _, err = run(capsys, *args)
        assert_one_line_error(code, err, "is a folder")
    code, _, err = run(capsys, "stylize", content_png, style_png, "-o", tmp_path,
                       "--method", "adain")
    assert_one_line_error(code, err, "is a folder", str(tmp_path / "out.png"))
    assert list(folder.iterdir()) == []


# ------------------------------------------------------------ 2. pictures too thin to paint


@pytest.mark.parametrize("method", ["optimize", "adain", "wct", "network"])
def test_a_picture_too_thin_is_refused_with_the_size_that_works(
        tmp_path: Path, style_png: Path, method: str, capsys: pytest.CaptureFixture[str]
) -> None:
    thin = picture(tmp_path / "thin.png", 64, 8)  # 8 wide, 64 tall
    out = tmp_path / "out.png"
    if method == "network":
        import torch

        from impasto.models import architecture, save_model

        torch.manual_seed(0)
        model = save_model(tmp_path / "model", architecture("fast").build().eval(), "fast",
                           {}, {"name": "tiny"})
        styles = ["--model", model]
    else:
        styles = [style_png, "--method", method]
    extra = ["--iterations", "2"] if method == "optimize" else []
    code, _, err = run(capsys, "stylize", thin, *styles, "-o", out, "--size", "64", *extra)
    assert_one_line_error(code, err, "thin.png is 8x64 at --size 64", "at least 16 px",
                          "use --size 124 or more, or crop it")
    assert not out.exists()
    if method in ("adain", "network"):  # the size it names works
        code, _, err = run(capsys, "stylize", thin, *styles, "-o", out, "--size", "124")
        assert code == 0, err
        assert Image.open(out).size == (16, 124)


def test_a_picture_too_small_without_a_size_names_one(tmp_path: Path, style_png: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    tiny = picture(tmp_path / "tiny.png", 10, 12)
    code, _, err = run(capsys, "stylize", tiny, style_png, "-o", tmp_path / "o.png",
                       "--method", "adain")
    assert_one_line_error(code, err, "tiny.png is 12x10;", "use --size 19 or more")
    assert "crop" not in err  # cropping would not make it larger


def test_a_style_too_thin_is_refused(tmp_path: Path, content_png: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    strip = picture(tmp_path / "strip.png", 4, 600)
    code, _, err = run(capsys, "stylize", content_png, strip, "-o", tmp_path / "o.png",
                       "--method", "adain")
    assert_one_line_error(code, err, "style picture strip.png (600x4) becomes 512x3",
                          "32:1")
    code, _, err = run(capsys, "stylize", content_png, strip, "-o", tmp_path / "o.png",
                       *FAST)
    assert_one_line_error(code, err, "style picture strip.png (600x4)", "--size 2325")
    assert not (tmp_path / "o.png").exists()


def test_the_api_refuses_a_strip_too(tmp_path: Path, style_png: Path) -> None:
    import impasto
    from impasto.errors import InvalidImage

    thin = synthetic_rgb(300, 4)
    for method in ("adain", "optimize"):
        with pytest.raises(InvalidImage, match="at least 16 px"):
            impasto.render(impasto.Request(thin, [str(style_png)], method=method,
                                           options={"size": 64}))


def test_a_long_picture_still_paints_from_a_coarse_scale(tmp_path: Path, style_png: Path
                                                         ) -> None:
    """A wide panorama that passes the check paints at every scale wide enough (the coarse
    scales that would be thinner than 16 px are left out), tiled or not."""
    import impasto

    wide = synthetic_rgb(20, 200)
    painted: set[tuple[int, int]] = set()

    def seen(event: Any) -> None:
        if event.stage == "step":
            painted.add((event.height, event.width))

    result = impasto.render(impasto.Request(wide, [str(style_png)], options={
        "size": 200, "scales": 3, "iterations": 6, "seed": 1}), callback=seen)
    assert result.image.size == (200, 20)
    assert painted and min(min(hw) for hw in painted) >= 16, painted


# ----------------------------------------------------------------------- 3. animated content


@pytest.mark.parametrize("ext", ["gif", "webp", "png"])
def test_an_animated_content_says_which_frame_was_used(tmp_path: Path, style_png: Path,
                                                       ext: str,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    frames = [Image.fromarray(synthetic_rgb(48, 64, seed=i)) for i in range(3)]
    clip = tmp_path / f"clip.{ext}"
    frames[0].save(clip, save_all=True, append_images=frames[1:], duration=100, loop=0)
    out = tmp_path / "out.png"
    code, _, err = run(capsys, "stylize", clip, style_png, "-o", out, "--method", "adain")
    assert code == 0, err
    notes = [line for line in err.splitlines() if "frames" in line]
    assert len(notes) == 1, err
    assert notes[0] == (f"impasto: {clip} has 3 frames; used the first; for all frames run: "
                        f"impasto video {clip} {style_png} -o {tmp_path / 'out.gif'}")
    assert Image.open(out).size == (64, 48)
    # The library says it through a warning only.
    import impasto
    from impasto.errors import AnimatedPictureWarning

    with pytest.warns(AnimatedPictureWarning, match="has 3 frames; used the first"):
        impasto.render(impasto.Request(str(clip), [str(style_png)], method="adain"))


@pytest.mark.parametrize("ext", ["gif", "webp"])
def test_an_animated_content_to_an_animated_output_paints_every_frame(
        tmp_path: Path, style_png: Path, ext: str, capsys: pytest.CaptureFixture[str]) -> None:
    frames = [Image.fromarray(synthetic_rgb(48, 64, seed=i)) for i in range(3)]
    clip = tmp_path / "clip.gif"
    frames[0].save(clip, save_all=True, append_images=frames[1:], duration=100, loop=0)
    out = tmp_path / f"out.{ext}"
    code, _, err = run(capsys, "stylize", clip, style_png, "-o", out, "--method", "adain",
                       "--size", "32")
    assert code == 0, err
    assert "painting every frame" in err
    painted = Image.open(out)
    assert painted.n_frames == 3 and max(painted.size) == 32
    # The frames differ as the clip's do (each one painted, not the first one repeated).
    first = np.asarray(painted.convert("RGB"))
    painted.seek(2)
    assert np.abs(first.astype(int) - np.asarray(painted.convert("RGB")).astype(int)).mean() > 5
    # What only a still picture takes is refused in one line, before any work.
    code, _, err = run(capsys, "stylize", clip, style_png, "-o", tmp_path / "m.gif",
                       "--protect-faces")
    assert code == 2 and "painted frame by frame" in err
    assert not (tmp_path / "m.gif").exists()


def test_a_still_picture_gets_no_note(tmp_path: Path, content_png: Path, style_png: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    import impasto
    from impasto.errors import AnimatedPictureWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", AnimatedPictureWarning)
        impasto.render(impasto.Request(str(content_png), [str(style_png)], method="adain"))
    code, _, err = run(capsys, "stylize", content_png, style_png, "-o", tmp_path / "o.png",
                       "--method", "adain")
    assert code == 0 and "frames" not in err


# ----------------------------------------------------------------- 4. Ctrl-C and a full disk


def test_ctrl_c_says_the_step_and_the_last_preview(tmp_path: Path, content_png: Path,
                                                   style_png: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from impasto.cli import progress

    original = progress.Fanout.__call__

    def interrupted(self: Any, event: Any) -> None:
        original(self, event)
        if event.stage == "step" and event.step == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(progress.Fanout, "__call__", interrupted)
    out, previews = tmp_path / "out.png", tmp_path / "previews"
    code, _, err = run(capsys, "stylize", content_png, style_png, "-o", out, "--size", "48",
                       "--iterations", "12", "--scales", "1", "--preview-dir", previews,
                       "--preview-every", "2")
    assert code == 130
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last == (f"impasto: interrupted stylising {content_png} at step 5 of 12; no output "
                    f"written; the last preview is {previews / 'step_00004.png'}")
    assert (previews / "step_00004.png").is_file()
    assert not out.exists() and not parts_left(tmp_path)


def test_ctrl_c_in_a_folder_says_what_was_written(tmp_path: Path, style_png: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from impasto.pipeline import Pipeline

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a", "b", "c"):
        picture(photos / f"{name}.png")
    original, calls = Pipeline.render, []

    def render(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "render", render)
    out = tmp_path / "out"
    code, _, err = run(capsys, "stylize", photos, style_png, "-o", out, "--method", "adain")
    assert code == 130
    assert err.strip().splitlines()[-1] == (
        f"impasto: interrupted stylising {photos / 'c.png'}; 2 finished pictures were "
        f"written to {out}, nothing else")
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]


class _FullDisk:
    """A file that takes a few bytes, then fails as a full disk does."""

    def __init__(self, fh: Any) -> None:
        self.fh, self.taken = fh, 0

    def write(self, data: Any) -> int:
        data = bytes(data)
        room = 100 - self.taken
        self.taken += self.fh.write(data[:room])
        if len(data) > room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fh, name)

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.fh.close()


def test_a_full_disk_leaves_no_partial_file(tmp_path: Path, content_png: Path,
                                            style_png: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    import builtins

    from impasto.image import save

    def full_disk(*args: Any, **kwargs: Any) -> _FullDisk:
        return _FullDisk(builtins.open(*args, **kwargs))

    monkeypatch.setattr(save, "open", full_disk, raising=False)
    out = tmp_path / "out.png"
    out.write_bytes(b"the picture from yesterday")
    for extra in ([], ["--no-provenance"]):
        code, _, err = run(capsys, "stylize", content_png, style_png, "-o", out,
                           "--method", "adain", *extra)
        assert_one_line_error(code, err, f"cannot write {out}", "No space left on device",
                              "nothing was written")
        assert out.read_bytes() == b"the picture from yesterday"
        assert not parts_left(tmp_path)


def test_a_full_disk_while_writing_a_video(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("av")
    from impasto.video import render as video_render
    from tests.test_video import panned, write_clip

    clip = write_clip(tmp_path / "clip.mp4", panned(6), audio=False)
    original = video_render._stream_copy

    def full(out: Any, *args: Any) -> str:
        original(out, *args)  # the packets go into the temporary file, then the disk fills
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(video_render, "_stream_copy", full)
    out = tmp_path / "out.mp4"
    args = ["video", clip, "the-scream", "-o", out, "--encoder", "student-relu4_1",
            "--no-provenance"]
    code, _, err = run(capsys, *args)
    assert_one_line_error(code, err, f"{out} was not written", "No space left on device",
                          "--resume")
    assert not out.exists() and not parts_left(tmp_path)
    monkeypatch.setattr(video_render, "_stream_copy", original)
    code, _, err = run(capsys, *args, "--resume")  # the whole segments were kept
    assert code == 0, err
    assert out.is_file()


def test_a_video_written_onto_a_link_to_its_input_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("av")
    from tests.test_video import panned, write_clip

    clip = write_clip(tmp_path / "clip.mp4", panned(3), audio=False)
    before = clip.read_bytes()
    os.link(clip, tmp_path / "same.mp4")
    code, _, err = run(capsys, "video", clip, "the-scream", "-o", tmp_path / "same.mp4")
    assert_one_line_error(code, err, "is an input of this run")
    code, _, err = run(capsys, "video", clip, "the-scream", "-o", tmp_path)
    assert_one_line_error(code, err, "is a folder")
    code, _, err = run(capsys, "score-video", clip, tmp_path)
    assert_one_line_error(code, err, "is a folder, not a video")
    assert clip.read_bytes() == before


# ------------------------------------------------------------------------- 5. the live camera


def test_webcam_without_a_camera_is_one_clean_line(tmp_path: Path, style_png: Path,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("cv2")
    for args in (["--method", "adain", str(style_png)], ["--method", "wct", "the-scream"],
                 [str(style_png)]):
        code = main(["webcam", *args, "--camera", "7"])
        err = capfd.readouterr().err
        assert_one_line_error(code, err, "no camera 7")  # OpenCV's own warnings kept off


def test_webcam_bad_options_are_one_line(tmp_path: Path, style_png: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "webcam", style_png, "--model", tmp_path)
    assert_one_line_error(code, err, "give no style pictures with --model")
    code, _, err = run(capsys, "webcam", "--method", "wct")
    assert_one_line_error(code, err, "needs at least one style picture")
    code, _, err = run(capsys, "webcam", "--method", "network", "in-bed")
    assert_one_line_error(code, err, "in-bed has no trained network yet")
    code, _, err = run(capsys, "webcam", "--style", "starry-night", style_png, "--method",
                       "network")  # --style is a STYLE too: a picture has no network
    assert_one_line_error(code, err, "give no style pictures with --model or --method network")
    code, _, err = run(capsys, "webcam", style_png, "--record", style_png)
    assert_one_line_error(code, err, "is an input of this run")


def test_the_live_camera_paints_a_builtin_style_with_its_own_network() -> None:
    """``impasto webcam --style starry-night`` paints with the style's shipped network; a
    style without one, or a picture among them, is painted by AdaIN."""
    from impasto.styles import get_style
    from impasto.webcam import _painters, webcam_method

    assert webcam_method([], ["starry-night", "the-scream"], None) == "network"
    assert webcam_method([], ["in-bed"], None) == "adain"
    assert webcam_method([], ["starry-night"], "adain") == "adain"
    painters = _painters("network", [], ["starry-night", "the-scream"], "cpu", "torch")
    assert [p.name for p in painters] == [
        get_style("starry-night").network, get_style("the-scream").network]
    frame = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    shown = [np.asarray(p(frame, 1.0, False), np.float32) for p in painters]  # RGB in [0, 1]
    assert shown[0].shape == frame.shape and np.abs(shown[0] - shown[1]).mean() > 0.04


def test_the_live_camera_paints_frames_with_adain_and_wct(style_png: Path, tmp_path: Path
                                                          ) -> None:
    pytest.importorskip("cv2")
    from impasto.api import ArbitraryPictures
    from impasto.webcam import LiveStylizer, StylePainter, camera_record

    other = picture(tmp_path / "other.png", 64, 64, seed=9)
    bgr = np.ascontiguousarray(synthetic_rgb(64, 96, seed=5)[:, :, ::-1])
    for method in ("adain", "wct"):
        pictures = ArbitraryPictures(method)
        live = LiveStylizer([StylePainter(pictures, str(style_png)),
                             StylePainter(pictures, str(other))], temporal=0.0)
        first = live.frame(bgr, 48)
        assert first.shape == (32, 48, 3) and first.dtype == np.uint8
        photo = np.asarray(Image.fromarray(bgr[:, :, ::-1]).resize((48, 32)))
        assert np.abs(first.astype(int) - photo).mean() > 5  # painted, not the photo
        live.key(ord("2"))
        second = live.frame(bgr, 48)
        assert np.abs(first.astype(int) - second).mean() > 2  # the other style
        record = camera_record(live, 0, 48, 0.0)
        assert record["method"] == method
        assert [s["name"] for s in record["styles"]] == ["style.png", "other.png"]
        assert all(len(s["sha256"]) == 64 for s in record["styles"])


if sys.platform == "win32":  # pragma: no cover - links need privileges there
    pytestmark = pytest.mark.skip("symlinks and hard links")
