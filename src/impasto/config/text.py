"""Option values typed as text (a command line, a CSV manifest) turned into the types of an
options dataclass's fields: comma lists into tuples, numbers and yes/no into their types."""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from typing import Any, get_args, get_origin

from impasto.config.optimize import TransferConfig
from impasto.errors import InvalidOption

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_floats(name: str, text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InvalidOption(f"--{name} needs comma-separated numbers, not {text!r}") from None
    if any(math.isnan(v) or math.isinf(v) for v in values):
        raise InvalidOption(f"--{name} needs finite numbers, not {text!r}")
    return values


def parse_names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def parse_cli_values(values: dict[str, Any], cls: type = TransferConfig) -> dict[str, Any]:
    """CLI values with the comma-separated list options of ``cls`` parsed into tuples (the
    other values as they are)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    out = dict(values)
    for name, value in values.items():
        cli_type = fields[name].metadata.get("cli_type") if name in fields else None
        if cli_type is not None and isinstance(value, str):
            flag = name.replace("_", "-")
            out[name] = (parse_floats(flag, value) if cli_type == "floats"
                         else parse_names(value))
    return out


def parse_text_value(cls: type, name: str, text: str) -> Any:
    """One option of ``cls`` given as text, in the field's type (an empty text is None; an
    option ``cls`` does not have is left as text for the options object to refuse)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if name not in fields:
        return text
    flag = name.replace("_", "-")
    text = text.strip()
    if text == "":
        return None
    hint = typing.get_type_hints(cls)[name]
    union = get_origin(hint) in (typing.Union, types.UnionType)
    kinds = [a for a in (get_args(hint) if union else (hint,)) if a is not type(None)]
    cli_type = fields[name].metadata.get("cli_type")
    if cli_type is not None or any(get_origin(k) is tuple for k in kinds):
        floats = cli_type == "floats" or any(
            get_origin(k) is tuple and float in get_args(k) for k in kinds)
        return parse_floats(flag, text) if floats else parse_names(text)
    if get_origin(hint) is typing.Literal or str in kinds or os.PathLike in [
            get_origin(k) or k for k in kinds]:
        return text
    if bool in kinds:
        if text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        raise InvalidOption(f"{flag} is yes or no, not {text!r}")
    if int in kinds:
        try:
            return int(text)
        except ValueError:
            raise InvalidOption(f"{flag} must be an integer, not {text!r}") from None
    if float in kinds:
        try:
            return float(text)
        except ValueError:
            raise InvalidOption(f"{flag} must be a number, not {text!r}") from None
    return text
