"""The feed-forward commands end to end: train, models, export, stylize --model (file, folder,
stdin/stdout, onnx backend), webcam; bad input is one line and exit code 2."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from impasto.image.save import read_metadata
from impasto.models import architecture, save_model
from tests.conftest import synthetic_rgb
from tests.test_cli import assert_one_line_error, run


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return save_model(tmp_path / "model", architecture("fast").build().eval(), "fast", {},
                      {"name": "tiny", "style": {"file": "stripes.png", "sha256": "0" * 64}})


def test_train_command(tmp_path: Path, style_png: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        Image.fromarray(synthetic_rgb(40, 40, seed=i)).save(photos / f"{i}.png")
    out = tmp_path / "trained"
    code, _, err = run(capsys, "train", style_png, "--data", photos, "-o", out, "--steps", "2",
                       "--size", "32", "--batch", "1", "--holdout", "1", "--device", "cpu",
                       "--precision", "fp32")
    assert code == 0, err
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    code, _, err = run(capsys, "train", style_png, "--data", photos, "-o", out, "--steps", "2",
                       "--holdout", "1")
    assert_one_line_error(code, err, "--resume")
    code, _, err = run(capsys, "train", style_png, "--data", tmp_path / "none", "-o", out)
    assert_one_line_error(code, err, "not found")
    code, _, err = run(capsys, "train", style_png, "--data", photos, "-o", out, "--batch", "0")
    assert_one_line_error(code, err, "batch")
    # --max-minutes: a budget shorter than a step stops after one, with the model written.
    code, _, err = run(capsys, "train", style_png, "--data", photos, "-o", tmp_path / "timed",
                       "--steps", "500", "--size", "32", "--batch", "1", "--holdout", "1",
                       "--precision", "fp32", "--max-minutes", "0.01")
    assert code == 0, err
    assert json.loads((tmp_path / "timed" / "config.json").read_text())[
        "training"]["steps_done"] < 50
    code, _, err = run(capsys, "train", style_png, "--data", photos, "-o", tmp_path / "t2",
                       "--max-minutes", "0")
    assert_one_line_error(code, err, "max-minutes")


def test_stylize_with_a_model(tmp_path: Path, content_png: Path, model_dir: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.png"
    code, stdout, err = run(capsys, "stylize", content_png, "-o", out, "--model", model_dir,
                            "--json")
    assert code == 0, err
    with Image.open(out) as im:
        assert im.size == (64, 48)  # the content's own size, any size (not a multiple of 8)
    record = json.loads(read_metadata(out)["impasto"])
    assert record["model"]["name"] == "tiny" and record["options"]["strength"] == 1.0
    assert json.loads(stdout)["output"] == str(out)
    # --strength 0 gives the content back.
    code, _, err = run(capsys, "stylize", content_png, "-o", tmp_path / "zero.png", "--model",
                       model_dir, "--strength", "0")
    assert code == 0, err
    same = np.asarray(Image.open(tmp_path / "zero.png"), np.int16)
    assert np.abs(same - np.asarray(Image.open(content_png), np.int16)).max() <= 1


def test_stylize_a_folder(tmp_path: Path, model_dir: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(2):
        Image.fromarray(synthetic_rgb(30 + i, 50, seed=i)).save(src / f"p{i}.jpg")
    (src / "notes.txt").write_text("not a picture")
    code, _, err = run(capsys, "stylize", src, "-o", tmp_path / "out", "--model", model_dir)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p0.png", "p1.png"]
    (src / "broken.png").write_bytes(b"\x89PNG broken")
    code, _, err = run(capsys, "stylize", src, "-o", tmp_path / "out2", "--model", model_dir)
    assert code == 2 and "skipped broken.png" in err and "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "out2").iterdir()) == ["p0.png", "p1.png"]
    code, _, err = run(capsys, "stylize", src, "-o", tmp_path / "x.png", "--model", model_dir)
    assert_one_line_error(code, err, "must be a folder")


def test_stdin_to_stdout(tmp_path: Path, content_png: Path, model_dir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "impasto", "stylize", "-", "-o", "-", "--model", str(model_dir)],
        input=content_png.read_bytes(), capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with Image.open(io.BytesIO(proc.stdout)) as im:
        assert im.format == "PNG" and im.size == (64, 48)
    bad = subprocess.run(
        [sys.executable, "-m", "impasto", "stylize", "-", "-o", "-", "--model", str(model_dir)],
        input=b"hello", capture_output=True, timeout=120)
    assert bad.returncode == 2 and bad.stdout == b""
    assert bad.stderr.decode().count("\n") == 1 and b"not a picture" in bad.stderr


def test_export_and_onnx_backend(tmp_path: Path, content_png: Path, model_dir: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnxruntime")
    onnx_file = tmp_path / "m.onnx"
    code, _, err = run(capsys, "export", model_dir, "-o", onnx_file)
    assert code == 0 and onnx_file.is_file(), err
    code, _, err = run(capsys, "stylize", content_png, "-o", tmp_path / "a.png", "--model",
                       model_dir, "--backend", "onnx")
    assert code == 0, err
    code, _, err = run(capsys, "stylize", content_png, "-o", tmp_path / "b.png", "--model",
                       model_dir)
    a = np.asarray(Image.open(tmp_path / "a.png"), np.int16)
    b = np.asarray(Image.open(tmp_path / "b.png"), np.int16)
    assert np.abs(a - b).max() <= 1
    code, _, err = run(capsys, "export", model_dir, "-o", tmp_path / "m.txt")
    assert_one_line_error(code, err, ".onnx")


def test_bad_model_options(tmp_path: Path, content_png: Path, style_png: Path, model_dir: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.png"
    for args, needle in (
        (["--model", tmp_path / "missing"], "model not found"),
        (["--model", model_dir, "--iterations", "9"], "iterations does not apply to method "
                                                       "network"),
        ([style_png, "--backend", "onnx"], "backend does not apply to method optimize"),
        ([style_png, "--model", model_dir], "give no style pictures"),
        ([style_png, "--model", model_dir, "--method", "adain"], "do not go together"),
    ):
        code, _, err = run(capsys, "stylize", content_png, *args, "-o", out)
        assert_one_line_error(code, err, needle)
    code, _, err = run(capsys, "stylize", content_png, "-o", out)
    assert_one_line_error(code, err, "needs at least one style picture")
    assert not out.exists()


def test_models_lists_architectures(capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, _ = run(capsys, "models", "--json")
    assert code == 0
    listing = json.loads(stdout)
    assert {a["name"] for a in listing["architectures"]} >= {"fast", "johnson"}
    for m in listing["models"]:
        assert len(m["sha256"]) == 64


def test_webcam_without_camera_or_display_is_one_line(model_dir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "impasto", "webcam", "--model", str(model_dir), "--camera", "7"],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert any(w in proc.stderr for w in ("OpenCV", "display", "camera"))
