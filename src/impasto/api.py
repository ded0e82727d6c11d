"""Python conveniences over :mod:`impasto.pipeline`: one call for one picture, and objects
that keep a method's networks loaded across calls. Each maps its arguments onto a
:class:`~impasto.pipeline.Request` and nothing more.

>>> import impasto
>>> picture = impasto.stylize("photo.jpg", "painting.jpg", size=512, strength=0.6)
>>> picture.save("out.png")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image

from impasto.config import ArbitraryOptions, NetworkOptions, TransferConfig
from impasto.errors import InvalidOption
from impasto.events import CallbackLike, CancelToken
from impasto.image.io import DEFAULT_MAX_PIXELS, ImageSource, open_image, split_alpha, to_tensor
from impasto.metrics.scores import Scores
from impasto.models.store import StyleModel
from impasto.pipeline import Pipeline, Request, check_method, options_for
from impasto.pipeline.core import pipeline_for
from impasto.result import Result
from impasto.runtime.device import resolve_device

#: Fields of a :class:`Request` that are not the method's options.
REQUEST_FIELDS = ("masks", "protect", "protect_faces", "scores", "max_pixels")


def stylize(
    content: ImageSource,
    style_or_styles: ImageSource | Sequence[ImageSource] = (),
    *,
    device: str | torch.device = "cpu",
    method: str = "optimize",
    callback: CallbackLike | None = None,
    cancel: CancelToken | None = None,
    **options: Any,
) -> Image.Image:
    """Render ``content`` in the style of one or more style pictures; return a PIL image whose
    ``info`` carries the provenance record under ``"impasto"``.

    ``method`` is ``optimize`` (options: the fields of :class:`~impasto.config.TransferConfig`),
    ``network`` (``model=`` and the fields of :class:`~impasto.config.NetworkOptions`),
    ``adain`` or ``wct`` (:class:`~impasto.config.ArbitraryOptions`). ``masks``, ``protect``,
    ``protect_faces`` and ``max_pixels`` go to the request.
    """
    request_fields = {k: options.pop(k) for k in REQUEST_FIELDS if k in options}
    result = pipeline_for(str(device)).render(
        Request(content, style_or_styles, method=check_method(method), options=options,
                **request_fields),
        callback=callback, cancel=cancel)
    result.image.info.update(result.metadata)
    return result.image


class Stylizer:
    """Optimisation-based style transfer with VGG-19 kept loaded across calls.

    Args:
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, a ``torch.device``, or
            ``"auto"``.
        max_pixels: largest input picture accepted (decompression-bomb guard).
    """

    def __init__(self, device: str | torch.device = "cpu", *,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.pipeline = Pipeline(device)
        self.device = self.pipeline.device
        self.max_pixels = max_pixels

    def stylize(
        self,
        content: ImageSource | None,
        styles: ImageSource | Sequence[ImageSource],
        config: TransferConfig | None = None,
        *,
        masks: Sequence[tuple[ImageSource, int]] = (),
        protect: Sequence[tuple[ImageSource, float]] = (),
        protect_faces: float | None = None,
        callback: CallbackLike | None = None,
        cancel: CancelToken | None = None,
        **options: Any,
    ) -> Result:
        """Render ``content`` in the style of ``styles``; options are the fields of
        :class:`~impasto.config.TransferConfig` over ``config``. ``content=None``
        synthesises a texture."""
        request = Request(content, styles, method="optimize",
                          options=options_for("optimize", config, **options), masks=masks,
                          protect=protect, protect_faces=protect_faces,
                          max_pixels=self.max_pixels)
        return self.pipeline.render(request, callback=callback, cancel=cancel)

    def texture(self, styles: ImageSource | Sequence[ImageSource],
                config: TransferConfig | None = None, **options: Any) -> Result:
        """Synthesise a ``size`` x ``size`` texture from the style(s) alone; ``wrap="both"``
        makes it tile seamlessly."""
        return self.stylize(None, styles, config, **options)


class NetworkStylizer:
    """A trained per-style network loaded once, for files, folders and frames.

    Args:
        model: a model folder, a shipped model's name, or a loaded :class:`StyleModel`.
        backend: ``"auto"`` (the runtime policy's fastest for this device), ``"torch"`` or
            ``"onnx"`` (onnxruntime, CPU).
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16`` (torch backend).
        channels_last, compile: torch backend options.
    """

    def __init__(self, model: str | os.PathLike[str] | StyleModel, *,
                 device: str | torch.device = "cpu", backend: str = "auto",
                 precision: str = "auto", channels_last: bool = False, compile: bool = False,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.pipeline = Pipeline(device)
        self.options = NetworkOptions(model=model, backend=backend, precision=precision,
                                      channels_last=channels_last, compile=compile)
        self.max_pixels = max_pixels
        self.runtime = self.pipeline.runtime("network", self.options)
        self.backend = self.pipeline.network.backend(self.options, self.runtime)
        self.model = self.pipeline.network.model(self.options, self.runtime)

    def tensor(self, x: torch.Tensor, *, strength: float = 1.0,
               preserve_color: str = "none") -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> stylised, same shape, on the CPU."""
        opts = self.options.replace(strength=strength, preserve_color=preserve_color)
        return self.pipeline.network.tensor(x, opts, self.runtime)

    def __call__(self, content: ImageSource, *, strength: float = 1.0,
                 preserve_color: str = "none", size: int | None = None) -> Result:
        opts = self.options.replace(strength=strength, preserve_color=preserve_color,
                                    size=size)
        return self.pipeline.render(Request(content, method="network", options=opts,
                                            max_pixels=self.max_pixels))


class ArbitraryPictures:
    """Any style picture in one pass (AdaIN or WCT), with the encoder, the decoders and each
    style's statistics kept across calls: the API behind ``impasto stylize --method adain``.
    """

    def __init__(self, method: str = "adain", *, device: str | torch.device = "cpu",
                 decoders: Sequence[Any] = (), precision: str = "auto",
                 patch: int | None = None, max_pixels: int | None = None,
                 encoder: Any = "vgg19") -> None:
        self.method = check_method(method)
        self.pipeline = Pipeline(device)
        fields: dict[str, Any] = {"decoders": tuple(decoders), "precision": precision,
                                  "encoder": encoder}
        if patch is not None:
            fields["patch"] = patch
        self.options = options_for(self.method, ArbitraryOptions(**fields))
        self.max_pixels = max_pixels or DEFAULT_MAX_PIXELS

    def __call__(self, content: ImageSource, styles: ImageSource | Sequence[ImageSource], *,
                 strength: float = 1.0, style_blend: Sequence[float] | None = None,
                 masks: Sequence[tuple[Any, int]] = (), preserve_color: str = "none",
                 size: int | None = None) -> Result:
        opts = self.options.replace(
            strength=strength, preserve_color=preserve_color, size=size,
            style_blend=None if style_blend is None else tuple(style_blend))
        return self.pipeline.render(Request(content, styles, method=self.method,
                                            options=opts, masks=masks,
                                            max_pixels=self.max_pixels))


def score(
    content: ImageSource,
    style: ImageSource,
    output: ImageSource,
    *,
    device: str | torch.device = "cpu",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Scores:
    """Style, content, structure and colour distances of ``output`` (see :mod:`impasto.metrics`)."""
    dev = resolve_device(device)
    tensors = [
        to_tensor(split_alpha(open_image(src, max_pixels=max_pixels, name=name))[0])
        for src, name in ((content, "content"), (style, "style"), (output, "output"))
    ]
    # The pipeline of that device keeps its scoring network (score() is called per output).
    return pipeline_for(str(dev)).scorer().score(*tensors)


#: Long side of each picture of a style sheet.
SHEET_SIZE = 256


def style_sheet(photo: ImageSource | None = None, styles: Sequence[Any] | None = None, *,
                size: int = SHEET_SIZE, method: str = "adain", columns: int = 6,
                device: str | torch.device = "cpu",
                progress: Any = None) -> Image.Image:
    """A contact sheet of ``photo`` (default: the demo's photo) in every built-in style (or
    ``styles``), each picture ``size`` px on its long side, labelled with the style's name;
    the photo itself comes first. ``method`` is ``adain`` or ``wct`` (one pass each), or
    ``network``: each built-in style's trained network (by default every style that has one).
    ``progress(done, total)`` is called after each picture."""
    from impasto.image.samples import demo_content
    from impasto.image.sheet import contact_sheet
    from impasto.styles.library import builtin_styles, resolve_style

    if method not in ("adain", "wct", "network"):
        raise InvalidOption(f"a style sheet is painted with adain, wct or network, not {method}")
    everyone = [s for s in builtin_styles() if method != "network" or s.network]
    chosen = [resolve_style(s) for s in styles] if styles else everyone
    if not chosen:
        raise InvalidOption("no built-in style has a trained network in this install")
    source, _ = split_alpha(open_image(demo_content() if photo is None else photo,
                                       name="photo"))
    # Every request is checked before the first picture (a style without a network is one line).
    requests = [Request(source, style, method=method, options={"size": size})
                for style in chosen]
    pipeline = pipeline_for(str(device))
    pictures: list[Image.Image] = []
    labels: list[str] = []
    for i, (style, request) in enumerate(zip(chosen, requests, strict=True), start=1):
        pictures.append(pipeline.render(request).image)
        labels.append(getattr(style, "name", None) or f"style {i}")
        if progress is not None:
            progress(i, len(chosen))
    return contact_sheet([source.resize(pictures[0].size, Image.Resampling.LANCZOS),
                          *pictures], ["photo", *labels], columns=columns)
