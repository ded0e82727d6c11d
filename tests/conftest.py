"""Shared fixtures: tiny synthetic pictures, and the shared data folder when present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The tests' own cache and configuration folders (impasto.runtime.cache; the local
    signing certificate of impasto.provenance.credentials), never the user's; subprocesses
    inherit them. No signing certificate from the environment."""
    import os

    os.environ["IMPASTO_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    os.environ["IMPASTO_CONFIG"] = str(tmp_path_factory.mktemp("config"))
    for name in ("IMPASTO_SIGN_CERT", "IMPASTO_SIGN_KEY"):
        os.environ.pop(name, None)


def synthetic_rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth, colourful, deterministic HxWx3 uint8 picture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    f = rng.uniform(3, 9, size=3)
    img = np.stack([
        0.5 + 0.5 * np.sin(f[0] * xx * 6.28 + 1.0),
        0.5 + 0.5 * np.cos(f[1] * yy * 6.28),
        0.5 + 0.5 * np.sin(f[2] * (xx + yy) * 3.14),
    ], axis=-1)
    return (img * 255).round().astype(np.uint8)


def stripes(h: int, w: int, period: int = 6) -> np.ndarray:
    """A high-contrast striped 'painting' (strong, distinctive style statistics)."""
    xx = np.arange(w)[None, :].repeat(h, 0)
    yy = np.arange(h)[:, None].repeat(w, 1)
    on = ((xx + yy) // period) % 2 == 0
    img = np.zeros((h, w, 3), np.uint8)
    img[on] = (230, 40, 30)
    img[~on] = (20, 30, 200)
    return img


def tiny_clip(frames: int = 8, *, audio: bool = True) -> bytes:
    """An MP4 of ``frames`` frames of 64x48 panning across a picture (H.264, 12 frames/s),
    with a 440 Hz AAC track: made with PyAV, for the video tests (nothing is downloaded)."""
    import io
    import math
    from fractions import Fraction

    import av

    width, height, rate = 64, 48, 12
    buffer = io.BytesIO()
    scene = synthetic_rgb(height, width * 2, seed=3)
    with av.open(buffer, "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = out.add_stream("aac", rate=44100) if audio else None
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(scene[:, i:i + width]),
                                               format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, rate)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            samples = 44100 * frames // rate
            wave = (0.3 * np.sin(2 * math.pi * 440 * np.arange(samples) / 44100)).astype(
                np.float32)
            for start in range(0, samples, 1024):
                chunk = av.AudioFrame.from_ndarray(wave[None, start:start + 1024],
                                                   format="flt", layout="mono")
                chunk.sample_rate, chunk.pts = 44100, start
                out.mux(sound.encode(chunk))
            out.mux(sound.encode(None))
    return buffer.getvalue()


@pytest.fixture
def content_array() -> np.ndarray:
    return synthetic_rgb(48, 64, seed=1)


@pytest.fixture
def style_array() -> np.ndarray:
    return stripes(64, 64)


@pytest.fixture
def content_png(tmp_path: Path, content_array: np.ndarray) -> Path:
    path = tmp_path / "content.png"
    Image.fromarray(content_array).save(path)
    return path


@pytest.fixture
def style_png(tmp_path: Path, style_array: np.ndarray) -> Path:
    path = tmp_path / "style.png"
    Image.fromarray(style_array).save(path)
    return path


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "content").is_dir():
        pytest.skip("../shared/data is not present (a fresh clone): skipped")
    return SHARED_DATA


def to_tensor(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 255.0
