"""A live, stylised camera window (OpenCV): the feed-forward networks in real time."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from impasto.errors import InvalidOption
from impasto.video.frames import to_uint8

WINDOW = "impasto"
HELP = "1-9 model, +/- strength, c colour, q quit"


def _cv2():  # type: ignore[no-untyped-def]
    try:
        import cv2
    except ImportError:
        raise InvalidOption("the webcam needs OpenCV: pip install 'impasto[camera]'") from None
    return cv2


def has_display() -> bool:
    """Whether a window can be opened (X11/Wayland on Linux; assumed elsewhere)."""
    if os.name != "posix" or "darwin" in os.uname().sysname.lower():
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class Recorder:
    """Writes the frames shown to a video file, each at the time it was shown (a variable
    frame rate), through a temporary name renamed when closed; signed with ``record``'s C2PA
    manifest when a ``signer`` is given (:mod:`impasto.provenance.signing`) and the format
    takes one."""

    def __init__(self, path: str | os.PathLike[str], *, signer: Any = None,
                 record: dict[str, Any] | None = None) -> None:
        from fractions import Fraction
        from pathlib import Path

        from impasto.video import io as vio

        self.path = Path(path)
        fmt, self.codec, _ = vio.output_format(self.path, None)
        self.tmp = self.path.parent / f".{self.path.stem}.part{self.path.suffix}"
        self.container = vio._av().open(str(self.tmp), "w", format=fmt)
        self.time_base = Fraction(1, 1000)
        self.stream = None
        self.started = time.perf_counter()
        self.last = -1
        from impasto.provenance.signing import can_sign

        self.signer = signer if can_sign(self.path) else None
        self.record = record or {}

    def write(self, rgb: np.ndarray) -> None:
        from impasto.video import io as vio

        h, w = rgb.shape[:2]
        rgb = rgb[: h - h % 2, : w - w % 2]
        if self.stream is None:
            info = vio.VideoInfo(self.path, rgb.shape[1], rgb.shape[0], self.time_base, None,
                                 0, 0.0, 0, "yuv420p", 0, "", None)
            self.stream = vio.open_encoder(self.container, self.codec, info, rgb.shape[:2],
                                           crf=None)
        pts = max(self.last + 1, round((time.perf_counter() - self.started) * 1000))
        self.last = pts
        vio.encode(self.stream, self.container, np.ascontiguousarray(rgb), pts)

    def close(self) -> None:
        from impasto.video import io as vio

        if self.stream is not None:
            vio.encode(self.stream, self.container, None, None)
        self.container.close()
        if self.stream is None:
            self.tmp.unlink(missing_ok=True)
            return
        source = self.tmp
        if self.signer is not None:
            signed = self.tmp.with_name(f".{self.path.stem}.signed{self.path.suffix}")
            try:
                self.signer.sign_file(self.tmp, signed, self.record, self.path.name)
            except BaseException:
                signed.unlink(missing_ok=True)
                self.tmp.unlink(missing_ok=True)
                raise
            self.tmp.unlink()
            source = signed
        os.replace(source, self.path)


def camera_record(live: LiveStylizer, camera: int, size: int, temporal: float
                  ) -> dict[str, Any]:
    """The provenance record of a camera recording: the networks it could switch between."""
    from impasto._version import __version__

    models = [{"name": r.model.name, "sha256": r.model.sha256}  # type: ignore[attr-defined]
              for r in live.runners]
    return {"software": f"impasto {__version__}", "method": "network",
            "options": {"size": size, "temporal": temporal}, "content": None, "styles": [],
            "camera": camera, "model": models[0] if models else None, "models": models}


class LiveStylizer:
    """What the window shows for one camera frame: the current network's picture, blended with
    the previous one moved along the motion (``temporal``, :mod:`impasto.video.temporal`)."""

    def __init__(self, runners: Sequence[object], temporal: float = 0.5) -> None:
        from impasto.video.temporal import TemporalBlender

        self.runners = list(runners)
        self.blender = TemporalBlender(temporal, preset="ultrafast")
        self.current, self.strength, self.keep_colour = 0, 1.0, False

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (H, W, 3) uint8 RGB."""
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.0
        out = self.runners[self.current].tensor(  # type: ignore[attr-defined]
            x, strength=self.strength,
            preserve_color="luminance" if self.keep_colour else "none")
        styled = out[0].permute(1, 2, 0).numpy().astype(np.float32)
        return to_uint8(self.blender(rgb, styled))

    def key(self, key: int) -> None:
        if ord("1") <= key < ord("1") + len(self.runners):
            self.current = key - ord("1")
        elif key in (ord("+"), ord("=")):
            self.strength = min(1.0, self.strength + 0.1)
        elif key == ord("-"):
            self.strength = max(0.0, self.strength - 0.1)
        elif key == ord("c"):
            self.keep_colour = not self.keep_colour


def run_webcam(models: Sequence[str], *, camera: int = 0, size: int = 640,
               device: str = "cpu", backend: str = "auto", temporal: float = 0.5,
               record: str | os.PathLike[str] | None = None, provenance: Any = True) -> None:
    """Stylise camera frames until ``q``; fails with one line without a camera or display.
    ``record`` writes what is shown to a video file, signed by ``provenance`` (True: the
    default signer; False: no manifest)."""
    from impasto.api import NetworkStylizer
    from impasto.video.temporal import check_weight

    if not models:
        raise InvalidOption("give at least one --model")
    check_weight(temporal)
    cv2 = _cv2()
    if not has_display():
        raise InvalidOption("no display to show the webcam window on (DISPLAY is not set)")
    live = LiveStylizer([NetworkStylizer(m, device=device, backend=backend)
                         for m in models[:9]], temporal)
    capture = cv2.VideoCapture(camera)
    if not capture.isOpened():
        raise InvalidOption(f"no camera {camera} (OpenCV could not open it)")
    recorder = None
    if record is not None:
        from impasto.provenance.signing import resolve_signer

        recorder = Recorder(record, signer=resolve_signer(provenance),
                            record=camera_record(live, camera, size, temporal))
    shown = time.perf_counter()
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                raise InvalidOption(f"camera {camera} stopped sending frames")
            h, w = frame.shape[:2]
            scale = size / max(h, w)
            if scale < 1:
                frame = cv2.resize(frame, (round(w * scale), round(h * scale)),
                                   interpolation=cv2.INTER_AREA)
            out = live(np.ascontiguousarray(frame[:, :, ::-1]))
            if recorder is not None:
                recorder.write(out)
            image = np.ascontiguousarray(out[:, :, ::-1])
            now = time.perf_counter()
            fps = 1.0 / max(now - shown, 1e-6)
            shown = now
            runner = live.runners[live.current]
            label = (f"{runner.model.name}  strength {live.strength:.1f}  "  # type: ignore
                     f"{fps:.1f} fps  ({HELP})")
            cv2.putText(image, label, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
            try:
                cv2.imshow(WINDOW, image)
            except cv2.error:
                raise InvalidOption("this OpenCV build has no windows (opencv-python-headless):"
                                    " pip install 'impasto[camera]'") from None
            key = cv2.waitKey(1) & 0xFF
            if key in (ord("q"), 27):
                break
            live.key(key)
    finally:
        capture.release()
        cv2.destroyAllWindows()
        if recorder is not None:
            recorder.close()
