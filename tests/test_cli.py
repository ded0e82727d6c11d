"""The command line end to end, and every kind of bad input: one line, exit code 2, no output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from impasto.cli.main import main
from impasto.image.save import read_metadata

FAST = ["--size", "64", "--iterations", "6", "--seed", "1"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("impasto: error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_stylize_end_to_end(tmp_path: Path, content_png: Path, style_png: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "nested" / "folder" / "out.png"
    code, stdout, _ = run(capsys, "stylize", content_png, style_png, "-o", out, *FAST, "--json",
                          "--device", "cpu", "--preserve-color", "luminance")
    assert code == 0
    summary = json.loads(stdout)
    assert summary["output"] == str(out) and summary["size"] == [64, 48]
    assert Image.open(out).size == (64, 48)
    # --preserve-color luminance took effect: the picture keeps the content's chroma.
    from impasto.image.color import rgb_to_yuv
    from impasto.image.io import open_image, to_tensor

    made = rgb_to_yuv(to_tensor(open_image(out)))
    content = rgb_to_yuv(to_tensor(open_image(content_png).resize((64, 48))))
    assert float((made[:, 1:] - content[:, 1:]).abs().mean()) < 0.03
    assert float((made[:, :1] - content[:, :1]).abs().mean()) > 0.01
    record = json.loads(read_metadata(out)["impasto"])
    assert record["options"]["iterations"] == 6 and record["options"]["seed"] == 1
    assert record["styles"][0]["name"] == "style.png"
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".part")]


@pytest.mark.parametrize("ext", ["jpg", "webp", "tif"])
def test_output_formats_carry_metadata(tmp_path: Path, content_png: Path, style_png: Path,
                                       capsys: pytest.CaptureFixture[str], ext: str) -> None:
    out = tmp_path / f"out.{ext}"
    code, _, err = run(capsys, "stylize", content_png, style_png, "-o", out, "--size", "32",
                       "--iterations", "2", "--device", "cpu")
    assert code == 0, err
    assert json.loads(read_metadata(out)["impasto"])["options"]["size"] == 32


def test_sixteen_bit_png(tmp_path: Path, content_png: Path, style_png: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    import png

    out = tmp_path / "out16.png"
    code, _, err = run(capsys, "stylize", content_png, style_png, "-o", out, "--size", "32",
                       "--iterations", "2", "--bit-depth", "16")
    assert code == 0, err
    info = png.Reader(filename=str(out)).read()[3]
    assert info["bitdepth"] == 16


def test_several_styles_and_previews(tmp_path: Path, content_png: Path, style_png: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "grey.png"
    Image.new("RGB", (40, 40), (120, 120, 120)).save(other)
    code, _, err = run(capsys, "stylize", content_png, style_png, other, "-o",
                       tmp_path / "o.png", *FAST, "--style-blend", "0.7,0.3",
                       "--preview-every", "3", "--preview-dir", tmp_path / "prev")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "prev").iterdir()) == ["step_00003.png",
                                                                     "step_00006.png"]


def test_score_command(content_png: Path, style_png: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, _ = run(capsys, "score", content_png, style_png, content_png, "--json")
    assert code == 0
    row = json.loads(stdout)
    assert row["content_distance"] == pytest.approx(0, abs=1e-6)
    assert set(row) == {"output", "style_distance", "content_distance", "ssim", "color_distance"}


def test_info_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, _ = run(capsys, "info", "--json")
    assert code == 0
    data = json.loads(stdout)
    assert data["weights"]["verified"] is True and len(data["weights"]["sha256"]) == 64
    code, stdout, _ = run(capsys, "--version")
    assert code == 0 and stdout.startswith("impasto ")


def test_demo_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo.png"
    code, _, err = run(capsys, "demo", "-o", out, "--size", "64", "--iterations", "4",
                       "--device", "cpu")
    assert code == 0, err
    assert Image.open(out).size == (64, 43)
    assert "unknown" not in err  # the demo's own painting has a licence
    from impasto.provenance.inspect import inspect_file

    style = next(i for i in inspect_file(out).ingredients if i["relationship"] == "componentOf")
    assert style["metadata"]["org.impasto.licence"].startswith("CC0")


# ------------------------------------------------------------------------------ bad input


def _write_bad(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"bad_{kind}.png"
    if kind == "text":
        path.write_text("this is not a picture")
    elif kind == "truncated":
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(
            path)
        path.write_bytes(path.read_bytes()[:300])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "huge":
        Image.new("RGB", (2000, 1000)).save(path)
    return path


@pytest.mark.parametrize("kind,needle", [("text", "bad_text.png"),
                                         ("truncated", "bad_truncated.png"),
                                         ("empty", "bad_empty.png"),
                                         ("huge", "limit")])
def test_bad_pictures(tmp_path: Path, style_png: Path, capsys: pytest.CaptureFixture[str],
                      kind: str, needle: str) -> None:
    bad = _write_bad(tmp_path, kind)
    out = tmp_path / "out.png"
    code, _, err = run(capsys, "stylize", bad, style_png, "-o", out, *FAST,
                       "--max-pixels", "1000000")
    assert_one_line_error(code, err, needle)
    assert not out.exists()


def test_missing_style(tmp_path: Path, content_png: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.png"
    code, _, err = run(capsys, "stylize", content_png, tmp_path / "nope.jpg", "-o", out, *FAST)
    assert_one_line_error(code, err, "style image not found", "nope.jpg")
    assert not out.exists()


@pytest.mark.parametrize("args,needle", [
    (["--size", "-5"], "size"),
    (["--size", "abc"], "--size"),
    (["--strength", "nan"], "strength"),
    (["--content-weight", "nan"], "content-weight"),
    (["--style-layers", "relu1_1,relu9_9"], "relu9_9"),
    (["--style-blend", "1,2,3"], "style-blend"),
    (["--style-blend", "a,b"], "style-blend"),
    (["--optimizer", "sgd"], "optimizer"),
    (["--preserve-color", "sepia"], "preserve-color"),
    (["--bit-depth", "12"], "bit-depth"),
    (["--preview-every", "5"], "--preview-dir"),
    (["--device", "tpu"], "device"),
    (["--carry-curvature", "-1"], "carry-curvature"),
    (["--carry-curvature", "99"], "carry-curvature"),
    (["--multiscale", "-1"], "multiscale"),
    (["--multiscale", "9"], "multiscale"),
])
def test_nonsense_options(tmp_path: Path, content_png: Path, style_png: Path,
                          capsys: pytest.CaptureFixture[str], args: list[str],
                          needle: str) -> None:
    out = tmp_path / "out.png"
    code, _, err = run(capsys, "stylize", content_png, style_png, "-o", out, *FAST, *args)
    assert_one_line_error(code, err, needle)
    assert not out.exists()


def test_unsupported_output_extension(tmp_path: Path, content_png: Path, style_png: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "stylize", content_png, style_png, "-o", tmp_path / "o.gifx",
                       *FAST)
    assert_one_line_error(code, err, ".gifx")


def test_unwritable_output_folder(tmp_path: Path, content_png: Path, style_png: Path,
                                  capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins
    import errno

    import impasto.image.save as image_io

    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.access(locked, os.W_OK):  # root writes anywhere: the folder refuses files as it would
        def refuse(file: object, *args: object, **kwargs: object) -> object:
            if Path(os.fspath(file)).parent == locked:  # type: ignore[arg-type]
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(file))
            return builtins.open(file, *args, **kwargs)  # type: ignore[call-overload]

        monkeypatch.setattr(image_io, "open", refuse, raising=False)
    code, _, err = run(capsys, "stylize", content_png, style_png, "-o", locked / "o.png", *FAST)
    assert_one_line_error(code, err, "cannot write to output folder", "ermission denied")
    assert not list(locked.iterdir())


def test_a_full_disk_leaves_nothing_behind(tmp_path: Path, content_png: Path, style_png: Path,
                                           capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The folder passed the check before the run, but the picture does not fit on the disk:
    an error line, and neither the picture nor its temporary file is left."""
    import errno

    import impasto.image.save as image_io

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(image_io.os, "fsync", full)
    code, _, err = run(capsys, "stylize", content_png, style_png, "-o", tmp_path / "o.png", *FAST)
    lines = [line for line in err.splitlines() if line.strip()]  # after the run's progress
    assert code == 2 and "Traceback" not in err, err
    assert lines[-1].startswith("impasto: error: cannot write")
    assert os.strerror(errno.ENOSPC) in lines[-1]
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".o.png")]
    assert not (tmp_path / "o.png").exists()


def test_output_under_a_file_is_refused(tmp_path: Path, content_png: Path, style_png: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run(capsys, "stylize", content_png, style_png, "-o", blocker / "o.png", *FAST)
    assert_one_line_error(code, err)
    assert blocker.read_text() == "x"


def test_real_process_prints_no_traceback(tmp_path: Path, style_png: Path) -> None:
    """The installed entry point, in a fresh process: one line and exit code 2."""
    proc = subprocess.run(
        [sys.executable, "-m", "impasto", "stylize", str(tmp_path / "missing.png"),
         str(style_png), "-o", str(tmp_path / "o.png")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "content image not found" in proc.stderr
