"""What a batch is made of: every picture of a folder in every style, or the rows of a manifest
(CSV or JSON Lines: content, style, method and options per row, the command line filling in
what a row leaves out)."""

from __future__ import annotations

import csv
import dataclasses
import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from impasto.config import ArbitraryOptions, NetworkOptions, TransferConfig
from impasto.config.text import parse_text_value
from impasto.errors import InvalidImage, InvalidOption
from impasto.image.io import PICTURE_SUFFIXES
from impasto.pipeline.request import OPTIONS, check_method

#: Manifest columns that are not options.
COLUMNS = ("content", "style", "styles", "method", "model", "output")
#: Every option any method takes (a manifest column may name one, with - or _).
OPTION_NAMES = sorted({f.name for cls in (TransferConfig, NetworkOptions, ArbitraryOptions)
                       for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class Item:
    """One picture to make: a content picture, its styles (paths or built-in names; none for
    a trained network), the method, the options given (the row's over the command line's),
    the output name asked for (or None: made from the inputs' names), and where the item came
    from (for messages)."""

    content: str
    styles: tuple[str, ...]
    method: str
    options: dict[str, Any] = field(default_factory=dict)
    output: str | None = None
    origin: str = ""


@dataclass(frozen=True)
class Defaults:
    """What the command line says for every item: the method, the styles and the options."""

    method: str | None = None
    styles: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)

    def method_for(self, options: Mapping[str, Any]) -> str:
        if self.method:
            return check_method(self.method)
        return "network" if options.get("model") else "optimize"


def pictures_in(folder: Path) -> list[Path]:
    """The pictures of a folder, in name order (hidden files left out)."""
    return sorted(p for p in folder.iterdir() if p.is_file()
                  and p.suffix.lower() in PICTURE_SUFFIXES and not p.name.startswith("."))


def _expand_styles(styles: tuple[str, ...]) -> list[str]:
    """Each style as given; a folder stands for each picture in it."""
    out: list[str] = []
    for style in styles:
        path = Path(style)
        if path.is_dir():
            found = pictures_in(path)
            if not found:
                raise InvalidImage(f"no pictures in the style folder {style}")
            out.extend(str(p) for p in found)
        else:
            out.append(style)
    return out


def from_pictures(source: Path, defaults: Defaults) -> list[Item]:
    """Every picture of the folder ``source`` (or the one picture ``source``) in every style
    of the command line (each style apart; a blend of styles is a manifest row)."""
    contents = pictures_in(source) if source.is_dir() else [source]
    if not contents:
        raise InvalidImage(f"no pictures in {source}")
    method = defaults.method_for(defaults.options)
    styles = _expand_styles(defaults.styles)
    if method == "network" and not defaults.options.get("model"):
        if len(styles) > 0:
            # Built-in styles with their own networks: one item per style.
            return [Item(str(c), (s,), method, dict(defaults.options), origin=c.name)
                    for c in contents for s in styles]
        raise InvalidOption("method network needs --model (or --style with a built-in "
                            "style's name)")
    if method == "network" or not styles:
        if method != "network":
            raise InvalidOption(f"method {method} needs --style (one or more; each makes its "
                                "own pictures)")
        return [Item(str(c), (), method, dict(defaults.options), origin=c.name)
                for c in contents]
    return [Item(str(c), (s,), method, dict(defaults.options), origin=c.name)
            for c in contents for s in styles]


def _option_name(column: str) -> str:
    return column.strip().replace("-", "_")


def _check_columns(columns: list[str], where: str) -> None:
    for column in columns:
        name = _option_name(column)
        if name in COLUMNS or name in OPTION_NAMES:
            continue
        close = difflib.get_close_matches(name, [*COLUMNS, *OPTION_NAMES], n=1)
        hint = f"; did you mean {close[0].replace('_', '-')}?" if close else ""
        raise InvalidOption(f"{where}: column {column!r} is neither an input (content, style, "
                            f"method, model, output) nor an option{hint}")


def _typed(method: str, name: str, value: Any) -> Any:
    """A manifest cell in the type of the method's option (CSV cells are text)."""
    if not isinstance(value, str):
        return tuple(value) if isinstance(value, list) else value
    return parse_text_value(OPTIONS[method], name, value)


def _row_item(row: Mapping[str, Any], base: Path, defaults: Defaults, origin: str) -> Item:
    """One manifest row as an item: paths relative to the manifest's folder; empty cells
    take the command line's values."""
    cells = {_option_name(k): v for k, v in row.items()
             if k is not None and v is not None and v != ""}
    content = cells.pop("content", None)
    if not isinstance(content, str) or not content.strip():
        raise InvalidOption(f"{origin}: no content picture")
    styles: tuple[str, ...] = defaults.styles
    if "style" in cells or "styles" in cells:
        given = cells.pop("styles", None) or cells.pop("style", None)
        cells.pop("style", None)
        if isinstance(given, str):
            given = [s.strip() for s in given.split(";") if s.strip()]
        if not isinstance(given, list) or not all(isinstance(s, str) for s in given):
            raise InvalidOption(f"{origin}: style must be text (several: a list, or separated "
                                f"by ;)")
        styles = tuple(given)
    method_text = cells.pop("method", None)
    output = cells.pop("output", None)
    options = dict(defaults.options)
    if "model" in cells:
        options["model"] = _resolve(str(cells.pop("model")), base)
    method = (check_method(str(method_text)) if method_text
              else defaults.method_for(options))
    for name, value in cells.items():
        options[name] = _typed(method, name, value)
    return Item(_resolve(content.strip(), base), tuple(_resolve(s, base) for s in styles),
                method, options, None if output is None else str(output), origin)


def _located(row: Mapping[str, Any], base: Path, defaults: Defaults, where: str) -> Item:
    """:func:`_row_item`, its errors saying which line of the manifest they are about."""
    try:
        return _row_item(row, base, defaults, where)
    except InvalidOption as exc:
        message = str(exc)
        raise InvalidOption(message if message.startswith(where)
                            else f"{where}: {message}") from None


def _resolve(path: str, base: Path) -> str:
    """A manifest's relative path, from the manifest's folder (a built-in style's name, which
    is no file there, stays a name)."""
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return str(candidate)
    here = base / candidate
    return str(here) if here.exists() or "/" in path or "\\" in path else path


def from_manifest(path: Path, defaults: Defaults) -> list[Item]:
    """The items of a CSV (a header row, then one row an item) or JSON Lines manifest (one
    object a line); an unreadable manifest or an unknown column is a usage error, before any
    work. A row that names no content is one too."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidOption(f"cannot read the manifest {path}: {exc}") from None
    base = path.resolve().parent
    items: list[Item] = []
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path.name} line {number}"
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise InvalidOption(f"{where} is not JSON ({exc.args[0]})") from None
            if not isinstance(row, dict):
                raise InvalidOption(f"{where} is not a JSON object")
            _check_columns(list(row), where)
            items.append(_located(row, base, defaults, where))
    elif path.suffix.lower() in (".csv", ".tsv"):
        reader = csv.DictReader(text.splitlines(),
                                delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        _check_columns(list(reader.fieldnames or []), path.name)
        if "content" not in [_option_name(c) for c in reader.fieldnames or []]:
            raise InvalidOption(f"{path.name} has no content column (its first line names the "
                                "columns: content,style,...)")
        for number, row in enumerate(reader, start=2):
            if None in row:
                raise InvalidOption(f"{path.name} line {number} has more cells than columns")
            items.append(_located(row, base, defaults, f"{path.name} line {number}"))
    else:
        raise InvalidOption(f"a manifest is .csv, .tsv or .jsonl, not {path.name}")
    if not items:
        raise InvalidOption(f"the manifest {path} has no rows")
    return items
