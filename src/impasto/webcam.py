"""A live, stylised camera window (OpenCV): the feed-forward networks in real time."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import numpy as np
import torch

from impasto.errors import InvalidOption

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


def run_webcam(models: Sequence[str], *, camera: int = 0, size: int = 640,
               device: str = "cpu", backend: str = "auto") -> None:
    """Stylise camera frames until ``q``; fails with one line without a camera or display."""
    from impasto.api import NetworkStylizer

    if not models:
        raise InvalidOption("give at least one --model")
    cv2 = _cv2()
    if not has_display():
        raise InvalidOption("no display to show the webcam window on (DISPLAY is not set)")
    runners = [NetworkStylizer(m, device=device, backend=backend) for m in models[:9]]
    capture = cv2.VideoCapture(camera)
    if not capture.isOpened():
        raise InvalidOption(f"no camera {camera} (OpenCV could not open it)")
    current, strength, keep_colour = 0, 1.0, False
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
            rgb = torch.from_numpy(frame[:, :, ::-1].copy()).permute(2, 0, 1)[None].float()
            out = runners[current].tensor(rgb / 255.0, strength=strength,
                                          preserve_color="luminance" if keep_colour else "none")
            image = (out[0].permute(1, 2, 0).numpy()[:, :, ::-1] * 255.0 + 0.5)
            image = np.ascontiguousarray(image.astype(np.uint8))
            now = time.perf_counter()
            fps = 1.0 / max(now - shown, 1e-6)
            shown = now
            label = (f"{runners[current].model.name}  strength {strength:.1f}  "
                     f"{fps:.1f} fps  ({HELP})")
            cv2.putText(image, label, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
            cv2.imshow(WINDOW, image)
            key = cv2.waitKey(1) & 0xFF
            if key in (ord("q"), 27):
                break
            if ord("1") <= key < ord("1") + len(runners):
                current = key - ord("1")
            elif key in (ord("+"), ord("=")):
                strength = min(1.0, strength + 0.1)
            elif key == ord("-"):
                strength = max(0.0, strength - 0.1)
            elif key == ord("c"):
                keep_colour = not keep_colour
    finally:
        capture.release()
        cv2.destroyAllWindows()
