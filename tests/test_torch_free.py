"""A trained network run in onnxruntime never loads PyTorch (once its export exists), and
makes the same picture as the PyTorch path; the package and the command line import without
it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from impasto import Pipeline, Request
from impasto.models import architecture, save_model
from tests.conftest import synthetic_rgb

pytest.importorskip("onnxruntime")

#: Runs the command line in a fresh interpreter, then says whether PyTorch was loaded.
CLI = """
import sys
from impasto.cli.main import main
code = main(sys.argv[1:])
print("TORCH_LOADED", "torch" in sys.modules, file=sys.stderr)
sys.exit(code)
"""


def run_cli(*args: str, cache: Path) -> tuple[subprocess.CompletedProcess[str], bool]:
    env = {**os.environ, "IMPASTO_CACHE": str(cache)}
    done = subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True,
                          env=env, timeout=300)
    loaded = "TORCH_LOADED True" in done.stderr
    return done, loaded


@pytest.fixture
def model(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return save_model(tmp_path / "net", architecture("fast").build().eval(), "fast", {},
                      {"name": "test net", "style": {"file": "wave.jpg"}})


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(synthetic_rgb(70, 90, seed=1)).save(folder / "a.png")
    Image.fromarray(synthetic_rgb(50, 40, seed=2)).save(folder / "b.jpg", quality=95)
    return folder


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def test_importing_the_package_and_the_command_line_loads_no_torch() -> None:
    code = ("import sys, impasto, impasto.cli.main, impasto.pipeline, impasto.models, "
            "impasto.features, impasto.runtime; print('torch' in sys.modules); "
            "print(impasto.Stylizer.__name__, impasto.load_model.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    assert out == ["False", "Stylizer", "load_model"]


def test_network_folder_runs_without_torch_once_exported(tmp_path: Path, model: Path,
                                                          photos: Path) -> None:
    cache = tmp_path / "cache"
    first, loaded_first = run_cli("stylize", str(photos), "--model", str(model), "-o",
                                  str(tmp_path / "one"), "--size", "64", "--device", "cpu",
                                  cache=cache)
    assert first.returncode == 0, first.stderr
    assert loaded_first  # the first use exports the network, with PyTorch
    assert list((cache / "onnx").glob("fast-*.onnx"))
    second, loaded_second = run_cli("stylize", str(photos), "--model", str(model), "-o",
                                    str(tmp_path / "two"), "--size", "64", "--device", "cpu",
                                    "--strength", "0.6", cache=cache)
    assert second.returncode == 0, second.stderr
    assert not loaded_second, second.stderr
    # The same pictures as PyTorch runs the network (float32 either way: at most one level).
    torch_run, _ = run_cli("stylize", str(photos), "--model", str(model), "-o",
                           str(tmp_path / "torch"), "--size", "64", "--device", "cpu",
                           "--strength", "0.6", "--backend", "torch", cache=cache)
    assert torch_run.returncode == 0, torch_run.stderr
    for name in ("a.png", "b.png"):
        ours, theirs = pixels(tmp_path / "two" / name), pixels(tmp_path / "torch" / name)
        assert ours.shape == theirs.shape and max(ours.shape[:2]) == 64
        assert np.abs(ours - theirs).max() <= 1
        # strength 0.6 is a blend: neither the photo nor the full network's picture
        full = pixels(tmp_path / "one" / name)
        assert np.abs(ours - full).mean() > 1.0
    # The provenance record names the runtime and the model as before.
    from impasto.image.save import read_metadata
    from impasto.provenance import METADATA_KEY

    record = json.loads(read_metadata(tmp_path / "two" / "a.png")[METADATA_KEY])
    assert record["backend"] == "onnx" and record["device"] == "cpu"
    assert record["model"]["name"] == "test net"
    assert record["model"]["style"] == {"file": "wave.jpg"}


def test_colour_preservation_takes_the_torch_path_and_still_works(tmp_path: Path, model: Path,
                                                                   photos: Path) -> None:
    cache = tmp_path / "cache"
    warm, _ = run_cli("stylize", str(photos / "a.png"), "--model", str(model), "-o",
                      str(tmp_path / "warm.png"), "--device", "cpu", cache=cache)
    assert warm.returncode == 0, warm.stderr
    done, loaded = run_cli("stylize", str(photos / "a.png"), "--model", str(model), "-o",
                           str(tmp_path / "kept.png"), "--device", "cpu", "--preserve-color",
                           "luminance", cache=cache)
    assert done.returncode == 0, done.stderr
    assert loaded
    assert pixels(tmp_path / "kept.png").shape == (70, 90, 3)


def test_pipeline_result_from_onnxruntime_is_an_array_that_saves_and_converts(
        tmp_path: Path, model: Path) -> None:
    pipeline = Pipeline("cpu")
    content = synthetic_rgb(48, 64, seed=3)
    request = Request(content, method="network", options={"model": str(model), "size": 40})
    first = pipeline.render(request)  # exports into the tests' cache
    again = Pipeline("cpu").render(request)  # a new pipeline finds the export
    assert isinstance(again.pixels, np.ndarray) and again.pixels.shape == (1, 3, 30, 40)
    assert np.array_equal(np.asarray(first.image), np.asarray(again.image))
    assert torch.equal(again.tensor, torch.from_numpy(again.array))
    torch_result = Pipeline("cpu").render(request.replace(
        options={"model": str(model), "size": 40, "backend": "torch"}))
    assert float((torch_result.tensor - again.tensor).abs().max()) < 1e-4
    saved = again.save(tmp_path / "out.png", provenance=False)
    assert np.array_equal(np.asarray(Image.open(saved).convert("RGB")),
                          np.asarray(again.image))
    assert again.record["model"]["sha256"] == torch_result.record["model"]["sha256"]


def test_an_export_of_other_weights_is_passed_over(tmp_path: Path, model: Path) -> None:
    from impasto.models.folder import read_model_folder
    from impasto.models.onnx import STRIDE_KEY, find_export

    other = save_model(tmp_path / "other", architecture("fast").build().eval(), "fast", {}, {})
    from impasto.models.export import export_onnx
    from impasto.models.store import load_model

    export_onnx(load_model(other), model / "model.onnx")  # beside, but of other weights
    folder = read_model_folder(model)
    found = find_export(folder)
    assert found is None or found.weights_sha256 == folder.sha256
    export_onnx(load_model(model), model / "model.onnx")
    found = find_export(folder)
    assert found is not None and found.metadata[STRIDE_KEY] == "4"
    assert found.stride == 4


def test_a_network_video_runs_without_torch_once_exported(tmp_path: Path, model: Path) -> None:
    pytest.importorskip("av")
    pytest.importorskip("cv2")
    from tests.conftest import tiny_clip

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(tiny_clip(6))
    cache = tmp_path / "cache"
    first, loaded_first = run_cli("video", str(clip), "-o", str(tmp_path / "first.mp4"),
                                  "--model", str(model), "--device", "cpu", cache=cache)
    assert first.returncode == 0, first.stderr
    assert loaded_first  # the export is made
    done, loaded = run_cli("video", str(clip), "-o", str(tmp_path / "out.mp4"), "--model",
                           str(model), "--device", "cpu", cache=cache)
    assert done.returncode == 0, done.stderr
    assert not loaded, done.stderr
    import av

    with av.open(str(tmp_path / "out.mp4")) as out:
        assert sum(1 for _ in out.decode(video=0)) == 6
