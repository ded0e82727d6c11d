"""The built-in styles: public-domain paintings that ship with the package, each with its
record (title, artist, year, licence and why, where the reproduction came from, the scale it
paints best at), usable by name wherever a style picture is asked for.

``library.json`` beside this file holds the records; ``pictures/`` the paintings. A name is
matched without regard to case, and ``_`` or spaces count as ``-``; a path that exists always
wins over a name.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from impasto.errors import InvalidOption

#: The format ``library.json`` is written in.
LIBRARY_FORMAT = "impasto-styles/1"
#: What a name may look like: a slug, never a path or a file name with a picture's extension.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _-]*$")
#: The fields a record must have (and every built-in style has).
REQUIRED = ("name", "title", "artist", "year", "movement", "palette", "licence",
            "licence_reason", "source", "file", "sha256", "size", "style_scale")


@dataclass(frozen=True)
class BuiltinStyle:
    """One built-in style: its record and where its picture is."""

    name: str
    title: str
    artist: str
    year: str
    movement: str
    palette: str
    licence: str
    licence_reason: str
    source: str
    file: str
    sha256: str
    size: tuple[int, int]
    style_scale: float = 1.0
    style_scale_reason: str = ""
    tags: tuple[str, ...] = ()
    #: A trained network for this style (a shipped model's name), when one has been trained.
    network: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def path(self) -> Path:
        return Path(str(resources.files(__package__).joinpath("pictures", self.file)))

    def record(self) -> dict[str, Any]:
        """What a picture's provenance says of this style (and ``impasto styles --json``)."""
        return {"name": self.name, "title": self.title, "artist": self.artist,
                "year": self.year, "movement": self.movement, "palette": self.palette,
                "licence": self.licence, "licence_reason": self.licence_reason,
                "source": self.source, "file": self.file, "sha256": self.sha256,
                "size": list(self.size), "style_scale": self.style_scale,
                "style_scale_reason": self.style_scale_reason, "tags": list(self.tags),
                "network": self.network}


def _from_record(raw: dict[str, Any]) -> BuiltinStyle:
    missing = [k for k in REQUIRED if not raw.get(k) and raw.get(k) != 0]
    if missing:
        raise ValueError(f"built-in style {raw.get('name')!r} lacks {', '.join(missing)}")
    known = {f for f in BuiltinStyle.__dataclass_fields__ if f != "extra"}
    values = {k: v for k, v in raw.items() if k in known}
    values["size"] = tuple(int(v) for v in raw["size"])
    values["tags"] = tuple(raw.get("tags") or ())
    values["year"] = str(raw["year"])
    values["style_scale"] = float(raw["style_scale"])
    return BuiltinStyle(**values, extra={k: v for k, v in raw.items() if k not in known})


@lru_cache(maxsize=1)
def library() -> dict[str, Any]:
    """``library.json`` as written (format, held-out styles, records)."""
    text = resources.files(__package__).joinpath("library.json").read_text(encoding="utf-8")
    data = json.loads(text)
    if data.get("format") != LIBRARY_FORMAT:
        raise ValueError(f"library.json is not {LIBRARY_FORMAT}")
    return data


@lru_cache(maxsize=1)
def builtin_styles() -> tuple[BuiltinStyle, ...]:
    """Every built-in style, sorted by name."""
    return tuple(sorted((_from_record(r) for r in library()["styles"]), key=lambda s: s.name))


def normalise(name: str) -> str:
    return re.sub(r"[\s_-]+", "-", name.strip().lower())


def find_style(name: str) -> BuiltinStyle | None:
    """The built-in style called ``name`` (see :func:`normalise`), or None."""
    wanted = normalise(name)
    return next((s for s in builtin_styles() if s.name == wanted), None)


def style_with_sha256(digest: str | None) -> BuiltinStyle | None:
    """The built-in style whose picture has this SHA-256 (what a trained model records of its
    style picture), or None."""
    return next((s for s in builtin_styles() if s.sha256 == digest), None)


def get_style(name: str) -> BuiltinStyle:
    """The built-in style called ``name``, or one clear error naming the closest ones."""
    found = find_style(name)
    if found is None:
        raise InvalidOption(unknown_message(name))
    return found


def unknown_message(name: str) -> str:
    names = [s.name for s in builtin_styles()]
    close = difflib.get_close_matches(normalise(name), names, n=3, cutoff=0.5)
    hint = f"closest: {', '.join(close)}; " if close else ""
    return (f"style {name!r} is neither a file nor a built-in style ({hint}"
            f"impasto styles lists all {len(names)})")


def looks_like_name(text: str) -> bool:
    """Whether ``text`` can only be meant as a style's name (no folder, no extension)."""
    return bool(_NAME.match(text)) and not os.path.splitext(text)[1]


def resolve_style(source: Any) -> Any:
    """A style as given, or its :class:`BuiltinStyle` when it is a built-in style's name.

    A path that exists wins over a name; a name that matches no style is an error that lists
    the closest names. Anything else (a missing file, a picture, an array) is returned as it
    is, for the reader to judge."""
    if isinstance(source, BuiltinStyle) or not isinstance(source, str):
        return source
    if os.path.exists(source) or not looks_like_name(source):
        return source
    return get_style(source)


def network_model(style: BuiltinStyle) -> str:
    """The trained network a built-in style names, or one clear error saying there is none."""
    if style.network is None:
        raise InvalidOption(
            f"built-in style {style.name} has no trained network yet: use --method adain (one "
            "pass, any style) or --method optimize (best quality), or give a network with "
            "--model")
    return style.network
