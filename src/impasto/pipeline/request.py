"""What a caller asks for: one :class:`Request` for every method, checked once when built."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
from PIL import Image

from impasto.config import ArbitraryOptions, NetworkOptions, TransferConfig
from impasto.config.checks import check_blend, check_style_number, finite
from impasto.errors import InvalidOption
from impasto.image.io import DEFAULT_MAX_PIXELS, ImageSource
from impasto.styles.library import BuiltinStyle, network_model, resolve_style

if TYPE_CHECKING:
    from impasto.optim.engine import LbfgsMemory
    from impasto.optim.objective import TemporalTerm

Method = Literal["optimize", "network", "adain", "wct"]
METHODS: tuple[str, ...] = get_args(Method)
#: Older spellings of the methods, still accepted (``gatys`` was the optimiser's name).
METHOD_ALIASES = {"gatys": "optimize", "optimise": "optimize", "model": "network"}
#: The options class of each method.
OPTIONS: dict[str, type] = {"optimize": TransferConfig, "network": NetworkOptions,
                            "adain": ArbitraryOptions, "wct": ArbitraryOptions}

Options = TransferConfig | NetworkOptions | ArbitraryOptions


def check_method(method: str) -> str:
    """The method's name (older spellings mapped), or one clear error listing them."""
    method = METHOD_ALIASES.get(method, method)
    if method not in METHODS:
        raise InvalidOption(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    return method


def options_for(method: str, options: Options | Mapping[str, Any] | None = None,
                **changes: Any) -> Options:
    """The method's options object: ``options`` (an object or a mapping of its fields) with
    ``changes`` applied; an option the method does not take is one clear error."""
    cls = OPTIONS[check_method(method)]
    if options is not None and not isinstance(options, Mapping):
        if not isinstance(options, cls):
            raise InvalidOption(f"method {method} takes {cls.__name__}, not "
                                f"{type(options).__name__}")
        base, given = options, dict(changes)
    else:
        base, given = None, {**dict(options or {}), **changes}
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(given) - names)
    if unknown:
        takes = ", ".join(sorted(n.replace("_", "-") for n in names))
        raise InvalidOption(f"option {unknown[0].replace('_', '-')} does not apply to method "
                            f"{check_method(method)} (it takes {takes})")
    given = {k: tuple(v) if isinstance(v, list) else v for k, v in given.items()}
    if base is None:
        return cls(**given)
    return base.replace(**given) if given else base


def as_sources(styles: Any) -> tuple[Any, ...]:
    """One style or several, as a tuple."""
    if styles is None:
        return ()
    if isinstance(styles, str | os.PathLike | Image.Image | np.ndarray | BuiltinStyle):
        return (styles,)
    return tuple(styles)


#: What a user may say of a style picture's terms.
STYLE_TERMS = ("licence", "attribution", "title", "artist")


def check_style_terms(terms: Sequence[Mapping[str, str]], styles: Sequence[Any]
                      ) -> tuple[dict[str, str], ...]:
    """The terms of each style picture, checked: no more than there are styles, known keys,
    text values, none for a built-in style (its terms are known)."""
    out = tuple(dict(t or {}) for t in terms)
    if len(out) > len(styles):
        raise InvalidOption(f"licence or attribution given for {len(out)} styles, but there "
                            f"{'is' if len(styles) == 1 else 'are'} {len(styles)}")
    for number, (given, style) in enumerate(zip(out, styles, strict=False), start=1):
        for key, value in given.items():
            if key not in STYLE_TERMS:
                raise InvalidOption(f"style terms are {', '.join(STYLE_TERMS)}, not {key!r}")
            if not isinstance(value, str) or not value.strip():
                raise InvalidOption(f"the {key} of style {number} must be text")
        if given and isinstance(style, BuiltinStyle):
            raise InvalidOption(f"style {number} is the built-in {style.name}: its terms are "
                                f"known ({style.licence})")
    return out


@dataclass(frozen=True)
class Request:
    """One picture to make.

    Args:
        content: a path, PIL image or HxWx3 uint8 array; None synthesises a texture
            (``method="optimize"`` only).
        styles: one style picture or several (paths, PIL images, arrays, or the names of
            built-in styles: ``"starry-night"``; a path that exists wins over a name); none
            for ``method="network"`` (the network is the style), or one built-in style's
            name when that style has a trained network.
        method: ``optimize`` (Gatys et al.: best quality, seconds to minutes), ``network``
            (a trained per-style network: milliseconds), ``adain`` or ``wct`` (any style in one
            pass).
        options: the method's options object (:class:`~impasto.config.TransferConfig`,
            :class:`~impasto.config.NetworkOptions`, :class:`~impasto.config.ArbitraryOptions`)
            or a mapping of its fields.
        masks: (mask, style number from 1): that style only where the mask is white.
        protect: (mask, weight): the content weight times ``weight`` where the mask is white
            (optimisation).
        protect_faces: protect the faces found in the content with this weight
            (optimisation).
        scores: also measure style, content, structure and colour distances.
        max_pixels: the largest picture read or made (decompression-bomb guard).
        init: a picture the optimiser starts from (instead of ``options.init``; video: the
            previous output frame moved to this one). Method optimize only.
        temporal: a video frame's temporal loss (:class:`~impasto.optim.objective.TemporalTerm`:
            keep the previous output frame where the flow holds). Method optimize only.
        lbfgs_memory: what the optimiser learnt of the objective on the previous frame
            (:class:`~impasto.optim.engine.LbfgsMemory`), to start this frame's steps from;
            the run updates it. Method optimize only.
        style_terms: for each style picture in order, what its owner allows: a mapping with
            ``licence`` and/or ``attribution`` (and ``title``, ``artist``), recorded in the
            picture's provenance; an empty mapping for a style with none given. Built-in
            styles carry their own.
    """

    content: ImageSource | None
    styles: Sequence[ImageSource] | ImageSource = ()
    method: str = "optimize"
    options: Any = None
    masks: Sequence[tuple[Any, int]] = ()
    protect: Sequence[tuple[Any, float]] = ()
    protect_faces: float | None = None
    scores: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    init: ImageSource | None = None
    temporal: TemporalTerm | None = None
    lbfgs_memory: LbfgsMemory | None = None
    style_terms: Sequence[Mapping[str, str]] = ()

    def __post_init__(self) -> None:
        method = check_method(self.method)
        object.__setattr__(self, "method", method)
        styles = tuple(resolve_style(s) for s in as_sources(self.styles))
        options = self.options
        if method == "network" and styles and (
                options is None or (isinstance(options, Mapping) and not options.get("model"))):
            # A built-in style's own trained network, by the style's name.
            if len(styles) != 1 or not isinstance(styles[0], BuiltinStyle):
                raise InvalidOption("a trained network paints its own style: give no style "
                                    "pictures with method network (or one built-in style's "
                                    "name)")
            options = {**dict(options or {}), "model": network_model(styles[0])}
            styles = ()
        object.__setattr__(self, "styles", styles)
        object.__setattr__(self, "options", options_for(method, options))
        object.__setattr__(self, "masks", tuple(self.masks))
        object.__setattr__(self, "protect", tuple(self.protect))
        object.__setattr__(self, "style_terms", check_style_terms(self.style_terms, styles))
        self._check()

    def replace(self, **changes: Any) -> Request:
        return dataclasses.replace(self, **changes)

    def _check(self) -> None:
        n = len(self.styles)
        if self.method == "network":
            if n:
                raise InvalidOption("a trained network paints its own style: give no style "
                                    "pictures with method network")
        elif not n:
            raise InvalidOption(f"method {self.method} needs at least one style picture")
        if self.content is None and self.method != "optimize":
            raise InvalidOption(f"method {self.method} needs a content picture")
        blend = getattr(self.options, "style_blend", None)
        check_blend(blend, n)
        for _, number in self.masks:
            check_style_number(number, n)
        if self.method == "optimize":
            for name in ("coarse_style", "fine_style"):
                number = getattr(self.options, name)
                if number is not None:
                    check_style_number(number, n, f"--{name.replace('_', '-')}")
        elif self.protect or self.protect_faces is not None:
            raise InvalidOption(f"protect masks and face protection go with method optimize, "
                                f"not {self.method}")
        if self.method == "network" and self.masks:
            raise InvalidOption("masks go with methods optimize, adain and wct")
        if self.init is not None and self.method != "optimize":
            raise InvalidOption(f"a start picture (init) goes with method optimize, not "
                                f"{self.method}")
        if self.lbfgs_memory is not None and self.method != "optimize":
            raise InvalidOption(f"an optimiser's memory goes with method optimize, not "
                                f"{self.method}")
        if self.temporal is not None and (self.method != "optimize" or self.content is None):
            raise InvalidOption("a temporal loss goes with method optimize and a content "
                                "picture (a video frame)")
        if self.method == "optimize" and self.options.init == "adain" and self.content is None:
            raise InvalidOption("init adain starts from the content's AdaIN picture: it needs a "
                                "content picture")
        if (self.masks or self.protect or self.protect_faces is not None) and (
                self.content is None):
            raise InvalidOption("masks and face protection need a content picture")
        for _, weight in self.protect:
            finite("protect weight", weight)
        if self.protect_faces is not None:
            finite("protect-faces weight", self.protect_faces)
            if self.protect_faces <= 0:
                raise InvalidOption(f"protect-faces weight must be > 0, not "
                                    f"{self.protect_faces}")
        if not isinstance(self.max_pixels, int) or self.max_pixels < 1:
            raise InvalidOption(f"max-pixels must be a positive integer, not "
                                f"{self.max_pixels!r}")
