"""CLI options generated from the config dataclass: defaults, choices and help stated once."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable
from typing import Any, get_args, get_origin

import typer

from impasto.config import TransferConfig
from impasto.config.text import parse_cli_values
from impasto.errors import InvalidOption

#: Options that the command states itself (not from the dataclass), or that are set elsewhere.
_SKIP = {"learning_rate"}


def config_parameters(skip: frozenset[str] = frozenset(),
                      cls: type = TransferConfig) -> list[inspect.Parameter]:
    """One ``typer.Option`` parameter per field of the config dataclass ``cls`` (less
    ``skip``)."""
    hints = typing.get_type_hints(cls)
    params = []
    for f in dataclasses.fields(cls):
        if f.name in skip or (cls is TransferConfig and f.name in _SKIP):
            continue
        flag = "--" + f.name.replace("_", "-")
        hint = hints[f.name]
        help_text = f.metadata.get("help", "")
        cli_type = f.metadata.get("cli_type")
        kwargs: dict[str, Any] = {"help": help_text, "show_default": True}
        default = f.default
        if cli_type is not None:
            annotation: Any = str | None
            default_text = None if default is None else ",".join(str(v) for v in default)
            kwargs["show_default"] = default_text or False
            default = None
        elif get_origin(hint) is typing.Literal:
            annotation = hint
        else:
            args = [a for a in get_args(hint) if a is not type(None)]
            annotation = (args[0] | None) if args else hint
        params.append(inspect.Parameter(
            f.name, inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(default, flag, **kwargs), annotation=annotation,
        ))
    return params


def config_from_cli(values: dict[str, Any], base: Any = None, cls: type = TransferConfig) -> Any:
    """Build the config from parsed CLI values (strings of list options parsed here)."""
    names = {f.name: f for f in dataclasses.fields(cls)}
    changes = {k: v for k, v in parse_cli_values(values, cls).items()
               if k in names and not (v is None and names[k].metadata.get("cli_type"))}
    return (base or cls()).replace(**changes)


def with_config_options(
    func: Callable[..., Any] | None = None, *, skip: frozenset[str] = frozenset(),
    cls: type = TransferConfig,
) -> Any:
    """Give ``func`` (which takes ``**config``) the config's options in its signature; fields
    in ``skip`` are left out (the command states them itself)."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(f, eval_str=True)
        own = [p for p in sig.parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD]
        f.__signature__ = sig.replace(  # type: ignore[attr-defined]
            parameters=own + config_parameters(skip, cls))
        return f

    return decorate(func) if func is not None else decorate


def parse_sweep(spec: str) -> tuple[str, list[Any]]:
    """``name=v1,v2,...`` over a field of :class:`TransferConfig`, values typed by the field."""
    name, sep, values = spec.partition("=")
    field_name = name.strip().lstrip("-").replace("-", "_")
    fields = {f.name: f for f in dataclasses.fields(TransferConfig)}
    if not sep or not values.strip():
        raise InvalidOption(f"--param needs NAME=V1,V2,..., not {spec!r}")
    if field_name not in fields or fields[field_name].metadata.get("cli_type"):
        sweepable = ", ".join(n.replace("_", "-") for n, f in fields.items()
                              if not f.metadata.get("cli_type") and n not in _SKIP)
        raise InvalidOption(f"--param {name!r} is not an option that can be swept; "
                            f"use one of {sweepable}")
    hint = typing.get_type_hints(TransferConfig)[field_name]
    kinds = [a for a in (get_args(hint) or (hint,)) if a is not type(None)]
    parsed: list[Any] = []
    for raw in (v.strip() for v in values.split(",") if v.strip()):
        if get_origin(hint) is typing.Literal:
            parsed.append(raw)
        elif int in kinds:
            try:
                parsed.append(int(raw))
            except ValueError:
                raise InvalidOption(f"--param {name}: {raw!r} is not an integer") from None
        elif float in kinds:
            try:
                parsed.append(float(raw))
            except ValueError:
                raise InvalidOption(f"--param {name}: {raw!r} is not a number") from None
        else:
            parsed.append(raw)
    return field_name, parsed
