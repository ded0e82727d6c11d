"""Never write over an input: an output path that is (through symlinks or hard links) one of
the run's input files is refused before any work."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from impasto.errors import InvalidOption


def _as_path(source: Any) -> Path | None:
    """The file a source names, or None (a picture in memory, a built-in style, stdin)."""
    if isinstance(source, str | os.PathLike) and str(source) not in ("", "-"):
        return Path(source)
    return None


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths are one file: the same path once resolved, or the same inode
    (a hard link); False when either does not exist yet."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def refuse_overwriting_inputs(output: str | os.PathLike[str], inputs: Iterable[Any],
                              *, what: str = "output", hint: str | None = None) -> None:
    """Raise :class:`~impasto.errors.InvalidOption` when ``output`` is one of ``inputs``
    (paths; anything else, such as a picture in memory or a built-in style's name, is
    ignored), so a run never replaces the picture it reads. ``hint`` replaces the advice at
    the end of the message."""
    if _as_path(output) is None:  # standard output
        return
    for source in inputs:
        path = _as_path(source)
        if path is not None and path.is_file() and same_file(output, path):
            raise InvalidOption(f"the {what} {output} is an input of this run ({path}); "
                                + (hint or "choose another path so the input is not "
                                           "overwritten"))
