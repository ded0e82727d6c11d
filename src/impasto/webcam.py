"""A live, stylised camera window (OpenCV): every instant method in real time (trained
networks, and any style picture by AdaIN or WCT)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from impasto.errors import InvalidOption
from impasto.video.frames import to_uint8

WINDOW = "impasto"
HELP = "1-9 model or style, +/- strength, c colour, q quit"


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
                 record: dict[str, Any] | Callable[[], dict[str, Any]] | None = None
                 ) -> None:
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
        self.record = record or {}  # or what makes it, called when the recording closes

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
                record = self.record() if callable(self.record) else self.record
                self.signer.sign_file(self.tmp, signed, record, self.path.name)
            except BaseException:
                signed.unlink(missing_ok=True)
                self.tmp.unlink(missing_ok=True)
                raise
            self.tmp.unlink()
            source = signed
        os.replace(source, self.path)


def camera_record(live: LiveStylizer, camera: int, size: int, temporal: float
                  ) -> dict[str, Any]:
    """The provenance record of a camera recording: the networks, or the styles, it could
    switch between."""
    from impasto._version import __version__

    painters = live.painters
    method = painters[0].method if painters else "network"
    record: dict[str, Any] = {"software": f"impasto {__version__}", "method": method,
                              "options": {"size": size, "temporal": temporal},
                              "content": None, "styles": [], "camera": camera}
    if method == "network":
        models = [p.describe() for p in painters]
        record.update(model=models[0] if models else None, models=models)
    else:
        record["styles"] = [p.describe() for p in painters]
    return record


def _hwc(tensor: torch.Tensor) -> np.ndarray:
    """A (1, 3, H, W) picture as (H, W, 3) float32."""
    return tensor[0].permute(1, 2, 0).float().contiguous().numpy()


class NetworkPainter:
    """One trained network, as the keys 1-9 choose it."""

    method = "network"

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.name = str(runner.model.name)

    def __call__(self, rgb: np.ndarray, strength: float, keep_colour: bool) -> np.ndarray:
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.0
        return _hwc(self.runner.tensor(x, strength=strength,
                                       preserve_color="luminance" if keep_colour else "none"))

    def describe(self) -> dict[str, Any]:
        return {"name": self.runner.model.name, "sha256": self.runner.model.sha256}


class StylePainter:
    """One style picture in one pass (AdaIN or WCT), as the keys 1-9 choose it; the encoder,
    the decoders and the style's statistics are kept between frames."""

    def __init__(self, pictures: Any, style: Any) -> None:
        self.pictures, self.style = pictures, style
        self.method = str(pictures.method)
        self.name = (os.path.basename(os.fspath(style)) if isinstance(style, str | os.PathLike)
                     else type(style).__name__)
        self.record: dict[str, Any] = {"name": self.name}

    def __call__(self, rgb: np.ndarray, strength: float, keep_colour: bool) -> np.ndarray:
        result = self.pictures(rgb, self.style, strength=strength,
                               preserve_color="luminance" if keep_colour else "none")
        self.record = dict(result.record["styles"][0])
        return _hwc(result.tensor)

    def describe(self) -> dict[str, Any]:
        return self.record


class LiveStylizer:
    """What the window shows for one camera frame: the current painter's picture (a trained
    network's, or one style's by AdaIN / WCT), blended with the previous one moved along the
    motion (``temporal``, :mod:`impasto.video.temporal`; ``keep_contrast`` as the method's
    video blend does)."""

    def __init__(self, painters: Sequence[Any], temporal: float = 0.5,
                 keep_contrast: bool = False) -> None:
        from impasto.video.temporal import MotionSettings, TemporalBlender

        # A NetworkStylizer stands for its network.
        self.painters = [p if callable(getattr(p, "describe", None)) else NetworkPainter(p)
                         for p in painters]
        self.blender = TemporalBlender(temporal, MotionSettings("ultrafast"), keep_contrast)
        self.current, self.strength, self.keep_colour = 0, 1.0, False

    @property
    def runners(self) -> list[Any]:
        return self.painters

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (H, W, 3) uint8 RGB."""
        styled = self.painters[self.current](rgb, self.strength, self.keep_colour)
        return to_uint8(self.blender(rgb, styled))

    def frame(self, bgr: np.ndarray, size: int) -> np.ndarray:
        """One camera frame as OpenCV reads it ((H, W, 3) uint8 BGR) -> the stylised frame,
        (h, w, 3) uint8 RGB, at long side ``size`` at most."""
        cv2 = _cv2()
        h, w = bgr.shape[:2]
        scale = size / max(h, w)
        if scale < 1:
            bgr = cv2.resize(bgr, (round(w * scale), round(h * scale)),
                             interpolation=cv2.INTER_AREA)
        return self(np.ascontiguousarray(bgr[:, :, ::-1]))

    def key(self, key: int) -> None:
        if ord("1") <= key < ord("1") + len(self.painters):
            self.current = key - ord("1")
        elif key in (ord("+"), ord("=")):
            self.strength = min(1.0, self.strength + 0.1)
        elif key == ord("-"):
            self.strength = max(0.0, self.strength - 0.1)
        elif key == ord("c"):
            self.keep_colour = not self.keep_colour


def _networks_of(styles: Sequence[Any]) -> list[str] | None:
    """The shipped networks of ``styles`` when every one is a built-in style that has one,
    else None."""
    from impasto.styles.library import BuiltinStyle, resolve_style

    found = [resolve_style(s) for s in styles]
    if not found or not all(isinstance(s, BuiltinStyle) and s.network for s in found):
        return None
    return [str(s.network) for s in found]


def webcam_method(models: Sequence[Any], styles: Sequence[Any], method: str | None) -> str:
    """The method a webcam run uses: ``network`` with trained networks, or with built-in
    styles that each have one (the fastest and cleanest live); ``adain`` (or ``wct``) with
    other style pictures; anything else is one clear error."""
    networks = _networks_of(styles)
    chosen = method or ("network" if models or not styles or networks else "adain")
    if chosen not in ("network", "adain", "wct"):
        raise InvalidOption(f"the webcam paints with --model (network), or --method adain or "
                            f"wct, not {chosen}")
    if chosen == "network":
        if styles and networks is None:
            from impasto.styles.library import BuiltinStyle, network_model, resolve_style

            for style in map(resolve_style, styles):
                if isinstance(style, BuiltinStyle):
                    network_model(style)  # one line: this built-in style has no network yet
            raise InvalidOption("a trained network paints its own style: give no style "
                                "pictures with --model or --method network (built-in styles "
                                "by name go with them), or use --method adain / wct")
        if not models and not styles:
            raise InvalidOption("give a trained network (--model M), a built-in style by name, "
                                "or style pictures with --method adain / wct")
    elif models:
        raise InvalidOption(f"--model and --method {chosen} do not go together")
    elif not styles:
        raise InvalidOption(f"--method {chosen} needs at least one style picture")
    return chosen


def _open_camera(cv2: Any, camera: int) -> Any:
    """The camera, or one clear error (OpenCV's own warnings kept off the terminal)."""
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    level = logging.getLogLevel() if logging is not None else None
    if logging is not None:
        logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        capture = cv2.VideoCapture(camera)
    finally:
        if logging is not None:
            logging.setLogLevel(level)
    if not capture.isOpened():
        capture.release()
        raise InvalidOption(f"no camera {camera}: OpenCV could not open it (is one plugged in, "
                            f"and free? --camera N picks another)")
    return capture


def run_webcam(models: Sequence[str] = (), *, styles: Sequence[Any] = (),
               method: str | None = None, camera: int = 0, size: int = 640,
               device: str = "cpu", backend: str = "auto", temporal: float | None = None,
               record: str | os.PathLike[str] | None = None, provenance: Any = True) -> None:
    """Stylise camera frames until ``q`` with trained networks (``models``), or with style
    pictures by AdaIN / WCT (``styles``, ``method``); keys 1-9 switch between them. Fails
    with one line without a camera or display. ``record`` writes what is shown to a video
    file, signed by ``provenance`` (True: the default signer; False: no manifest)."""
    from impasto.video.temporal import KEEPS_CONTRAST, check_weight

    chosen = webcam_method(models, styles, method)
    weight = check_weight(temporal, chosen)
    if not isinstance(size, int) or size < 16:
        raise InvalidOption(f"--size must be an integer of at least 16, not {size!r}")
    if record is not None:
        from impasto.image.guard import refuse_overwriting_inputs

        if os.path.isdir(record):
            raise InvalidOption(f"--record {record} is a folder: give a video's file name "
                                f"(e.g. {os.path.join(record, 'shown.mp4')})")
        refuse_overwriting_inputs(record, list(styles), what="recording")
    cv2 = _cv2()
    capture = _open_camera(cv2, camera)
    try:
        if not has_display():
            raise InvalidOption("no display to show the webcam window on (DISPLAY is not set)")
        live = LiveStylizer(_painters(chosen, models, styles, device, backend), weight,
                            chosen in KEEPS_CONTRAST)
        _show(cv2, capture, live, camera, size, weight, record, provenance)
    finally:
        capture.release()


def _painters(method: str, models: Sequence[str], styles: Sequence[Any], device: str,
              backend: str) -> list[Any]:
    """What keys 1-9 switch between: up to nine networks, or nine styles."""
    if method == "network":
        from impasto.api import NetworkStylizer

        chosen = [*models, *(_networks_of(styles) or [])]
        return [NetworkPainter(NetworkStylizer(m, device=device, backend=backend))
                for m in chosen[:9]]
    from impasto.api import ArbitraryPictures

    pictures = ArbitraryPictures(method, device=device)
    return [StylePainter(pictures, style) for style in styles[:9]]


def _show(cv2: Any, capture: Any, live: LiveStylizer, camera: int, size: int, weight: float,
          record: str | os.PathLike[str] | None, provenance: Any) -> None:
    recorder = None
    if record is not None:
        from impasto.provenance.signing import resolve_signer

        recorder = Recorder(record, signer=resolve_signer(provenance),
                            record=lambda: camera_record(live, camera, size, weight))
    shown = time.perf_counter()
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                raise InvalidOption(f"camera {camera} stopped sending frames")
            out = live.frame(frame, size)
            if recorder is not None:
                recorder.write(out)
            image = np.ascontiguousarray(out[:, :, ::-1])
            now = time.perf_counter()
            fps = 1.0 / max(now - shown, 1e-6)
            shown = now
            painter = live.painters[live.current]
            label = (f"{painter.name}  strength {live.strength:.1f}  {fps:.1f} fps  ({HELP})")
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
        cv2.destroyAllWindows()
        if recorder is not None:
            recorder.close()
