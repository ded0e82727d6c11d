"""Feed-forward architectures, registered by name.

Each architecture's module registers itself with :func:`register` when imported; the
registry imports the built-in ones the first time it is consulted, so it is full whenever it
is read (and reading a model folder, :mod:`impasto.models.folder`, needs none of them).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

from impasto.errors import InvalidOption


@dataclass(frozen=True)
class Architecture:
    """A registered network family: its class, the factor its input sides must divide by, and
    its kind: ``"style"`` (RGB in, stylised RGB out) or ``"decoder"`` (VGG-19 features in, RGB
    out, for arbitrary-style transfer)."""

    name: str
    factory: type[nn.Module]
    stride: int
    kind: str = "style"

    def defaults(self) -> dict[str, Any]:
        """The constructor's parameters and their defaults."""
        sig = inspect.signature(self.factory.__init__)
        return {n: p.default for n, p in sig.parameters.items()
                if n != "self" and p.default is not inspect.Parameter.empty}

    def complete(self, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` with every parameter left out at its default: what config.json records,
        so that a later change of a default does not change what a saved model is."""
        return {**self.defaults(), **params}

    def build(self, **params: Any) -> nn.Module:
        unknown = set(params) - set(self.defaults())
        if unknown:
            raise InvalidOption(f"{self.name} has no parameter {', '.join(sorted(unknown))}; it "
                                f"takes {', '.join(self.defaults()) or 'none'}")
        return self.factory(**params)


_REGISTRY: dict[str, Architecture] = {}


def register(name: str, *, stride: int,
             kind: str = "style") -> Callable[[type[nn.Module]], type[nn.Module]]:
    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"architecture {name!r} registered twice")
        _REGISTRY[name] = Architecture(name, cls, stride, kind)
        return cls

    return decorate


#: The modules of the built-in architectures (each registers itself when imported).
BUILTIN = ("decoder", "fast", "johnson", "student")


def architectures() -> dict[str, Architecture]:
    for module in BUILTIN:
        importlib.import_module(f"impasto.models.{module}")
    return dict(sorted(_REGISTRY.items()))


def architecture(name: str) -> Architecture:
    found = architectures().get(name)
    if found is None:
        raise InvalidOption(f"unknown architecture {name!r}; use one of "
                            f"{', '.join(architectures())}")
    return found
