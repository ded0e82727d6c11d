"""Options of the one-pass methods: a trained network (``method="network"``) and any style
in one pass (``method="adain"`` / ``"wct"``). Each is checked once, here."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from impasto.config.checks import (
    check_blend,
    check_choices,
    check_size,
    check_strength,
)
from impasto.config.checks import opt as _opt
from impasto.config.optimize import Precision, PreserveColor
from impasto.errors import InvalidOption
from impasto.runtime.policy import Backend

#: Pictures with a side above this are stylised by AdaIN / WCT in patches (0 = never).
DEFAULT_PATCH = 1024
#: Smallest patch: two overlaps of the patch blending (arbitrary.core.OVERLAP).
MIN_PATCH = 256


@dataclass(frozen=True)
class _OnePass:
    """What every one-pass method takes."""

    strength: float = field(default=1.0, metadata=_opt(
        "Blend of the stylised picture with the content (1 = all style)."))
    preserve_color: PreserveColor = field(default="none", metadata=_opt(
        "Keep the content's colours."))
    size: int | None = field(default=None, metadata=_opt(
        "Long side of the output in pixels (default: the content's own)."))
    precision: Precision = field(default="auto", metadata=_opt(
        "Arithmetic of the networks: auto = the runtime policy's choice."))

    def _check(self) -> None:
        check_strength(self.strength)
        check_choices(self, (("preserve_color", PreserveColor), ("precision", Precision)))
        check_size(self.size, optional=True)

    def replace(self, **changes: Any) -> Any:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = [v if isinstance(v, str | int | float) else _describe(v) for v in value]
            elif value is not None and not isinstance(value, str | int | float | bool):
                value = _describe(value)
            out[f.name] = value
        return out


def _describe(value: Any) -> str:
    name = getattr(value, "name", None)
    return str(name) if name is not None else str(value)


@dataclass(frozen=True)
class NetworkOptions(_OnePass):
    """A trained per-style network (Johnson et al. 2016): ``model`` is a model folder, a
    shipped model's name or a loaded model."""

    model: str | os.PathLike[str] | Any = field(default=None, metadata=_opt(
        "The trained network: a model folder or a shipped model's name."))
    backend: Backend = field(default="auto", metadata=_opt(
        "auto (the fastest here: onnxruntime on CPUs where installed), torch, or onnx "
        "(onnxruntime, CPU)."))
    channels_last: bool = field(default=False, metadata=_opt("Channels-last memory layout."))
    compile: bool = field(default=False, metadata=_opt("torch.compile the network."))

    def __post_init__(self) -> None:
        self._check()
        if self.model is None or (isinstance(self.model, str) and not self.model):
            raise InvalidOption("method network needs a model (a model folder or a shipped "
                                "model's name)")
        check_choices(self, (("backend", Backend),))


@dataclass(frozen=True)
class ArbitraryOptions(_OnePass):
    """Any style picture in one pass: AdaIN (Huang and Belongie 2017) or WCT (Li et al.
    2017)."""

    style_blend: tuple[float, ...] | None = field(default=None, metadata=_opt(
        "Blend weights of the style pictures, one per style."))
    decoders: tuple[Any, ...] = field(default=(), metadata=_opt(
        "Decoder folders (or loaded models) to use instead of the shipped ones."))
    encoder: str | os.PathLike[str] | Any = field(default="vgg19", metadata=_opt(
        "vgg19, or a distilled encoder (AdaIN only)."))
    patch: int = field(default=DEFAULT_PATCH, metadata=_opt(
        "Largest side stylised in one piece; larger pictures go in patches (0 = never)."))

    def __post_init__(self) -> None:
        self._check()
        if isinstance(self.style_blend, list):
            object.__setattr__(self, "style_blend", tuple(self.style_blend))
        if isinstance(self.decoders, list | str | os.PathLike):
            object.__setattr__(self, "decoders", tuple(
                [self.decoders] if isinstance(self.decoders, str | os.PathLike)
                else self.decoders))
        check_blend(self.style_blend)
        check_patch(self.patch)


def check_patch(patch: Any) -> None:
    """The largest side stylised in one piece: 0 (never in patches) or at least
    :data:`MIN_PATCH`."""
    if isinstance(patch, bool) or not isinstance(patch, int) or (
            patch != 0 and not MIN_PATCH <= patch <= 1 << 20):
        raise InvalidOption(f"patch must be 0 (none) or an integer from {MIN_PATCH} to "
                            f"{1 << 20} px, not {patch!r}")
