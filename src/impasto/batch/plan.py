"""A batch's items as tasks: each checked as a request, keyed by the hashes of its inputs and
its options (so a rerun knows what is done, whatever the files are called), and given an
output name that collides with no other and with no input."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from impasto.batch.items import Item
from impasto.batch.ledger import file_sha256
from impasto.errors import ImpastoError, InvalidOption
from impasto.image.io import frame_count
from impasto.pipeline.request import Request
from impasto.styles.library import BuiltinStyle

#: Files that may hold more than one frame.
ANIMATED_SUFFIXES = (".gif", ".png", ".apng", ".webp")
#: Stands in for the content while an item's request is checked.
_PLACEHOLDER = np.zeros((16, 16, 3), np.uint8)


@dataclass(frozen=True)
class Task:
    """One item, planned: plain data (a Ray actor gets it as a row), paths, never pixels.

    ``output`` is the path the picture goes to; ``key`` names the work (inputs' hashes,
    method, options, output format); ``error`` says why the item cannot run (it is recorded
    as failed without any work)."""

    index: int
    key: str
    content: str
    styles: tuple[str, ...]
    method: str
    options: dict[str, Any]
    output: str
    origin: str
    inputs: dict[str, Any]  # {"content": {...}, "styles": [...]}: names and hashes
    error: str | None = None

    def to_row(self) -> dict[str, Any]:
        return {"index": self.index, "key": self.key, "content": self.content,
                "styles": list(self.styles), "method": self.method,
                "options": json.dumps(self.options, sort_keys=True, default=str),
                "output": self.output, "origin": self.origin,
                "inputs": json.dumps(self.inputs, sort_keys=True)}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Task:
        return cls(int(row["index"]), str(row["key"]), str(row["content"]),
                   tuple(str(s) for s in row["styles"]), str(row["method"]),
                   json.loads(row["options"]), str(row["output"]), str(row["origin"]),
                   json.loads(row["inputs"]))


class Hasher:
    """SHA-256 of files and folders, each read once per run."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def __call__(self, path: str | Path) -> str:
        key = str(Path(path).resolve())
        if key not in self._seen:
            target = Path(key)
            if target.is_dir():
                digest = hashlib.sha256()
                for part in sorted(p for p in target.rglob("*") if p.is_file()):
                    digest.update(part.relative_to(target).as_posix().encode())
                    digest.update(bytes.fromhex(self(part)))
                self._seen[key] = digest.hexdigest()
            else:
                self._seen[key] = file_sha256(target)
        return self._seen[key]


def _label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-.") or "picture"


def _style_label(item: Item, request: Request) -> str:
    if request.method == "network":
        model = request.options.model
        return _label(Path(str(model)).name if not isinstance(model, str) or "/" in model
                      or Path(model).exists() else str(model))
    names = [s.name if isinstance(s, BuiltinStyle) else Path(str(s)).stem
             for s in request.styles]
    return "+".join(_label(n) for n in names)


def _source(source: Any, hasher: Hasher) -> dict[str, Any]:
    if isinstance(source, BuiltinStyle):
        return {"builtin": source.name, "sha256": source.sha256}
    return {"path": str(source), "sha256": hasher(source)}


def _content(path: str, hasher: Hasher) -> dict[str, Any]:
    """The content's name and hash; for an animated picture also its number of frames (its
    first is painted)."""
    found = _source(path, hasher)
    frames = frame_count(path) if Path(path).suffix.lower() in ANIMATED_SUFFIXES else 1
    if frames > 1:
        found["frames"] = frames
    return found


def _hashed_options(options: dict[str, Any], hasher: Hasher) -> dict[str, Any]:
    """The options with each path (a model, a decoder, an encoder) replaced by the hash of
    what it holds: the same model under another name is the same work."""
    out: dict[str, Any] = {}
    for name, value in options.items():
        values = value if isinstance(value, list | tuple) else [value]
        hashed = [hasher(v) if isinstance(v, str) and ("/" in v or "\\" in v)
                  and Path(v).exists() else v for v in values]
        out[name] = hashed if isinstance(value, list | tuple) else hashed[0]
    return out


def check_item(item: Item) -> Request:
    """The item's request (its content a placeholder), or the error that stops it."""
    if not Path(item.content).is_file():
        raise InvalidOption(f"content picture not found: {item.content}")
    for style in item.styles:
        if ("/" in style or "\\" in style or Path(style).suffix) and not Path(style).exists():
            raise InvalidOption(f"style picture not found: {style}")
    return Request(_PLACEHOLDER, item.styles, method=item.method, options=item.options)


def plan(items: list[Item], out_dir: Path, *, ext: str, bit_depth: int, scores: bool,
         provenance: bool) -> list[Task]:
    """Tasks for ``items`` writing into ``out_dir``: keyed, named, each checked (an item that
    cannot run carries its error). Two items of the same key are the same work: planned
    once (the same inputs, options and output name)."""
    hasher = Hasher()
    stems = Counter(Path(p).stem for p in {item.content for item in items})
    drafts: list[tuple[Item, str, str, dict[str, Any], dict[str, Any], str | None]] = []
    seen: set[str] = set()
    for item in items:
        try:
            request = check_item(item)
            inputs = {"content": _content(item.content, hasher),
                      "styles": [_source(s, hasher) for s in request.styles]}
            options = request.options.to_dict()
            if "model" in options and not isinstance(options["model"], str):
                options["model"] = str(options["model"])
            label, error = _style_label(item, request), None
        except (ImpastoError, OSError) as exc:
            inputs = {"content": {"path": item.content}, "styles": [
                {"path": s} for s in item.styles]}
            options, label = dict(item.options), "failed"
            error = str(exc).replace("\n", " ")
        path = Path(item.content)
        # a.jpg and a.png in one batch: a_jpg_STYLE and a_png_STYLE.
        own = (path.stem if stems[path.stem] == 1
               else f"{path.stem}_{path.suffix.lstrip('.').lower()}")
        stem = f"{_label(own)}_{label}"
        identity = {"name": item.output or stem, "inputs": [inputs["content"].get("sha256"),
                               [s.get("sha256") for s in inputs["styles"]]],
                    "method": item.method, "options": _hashed_options(options, hasher),
                    "format": [item.output or ext, bit_depth], "scores": scores,
                    "provenance": provenance, "error": error}
        key = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()
                             ).hexdigest()[:32]
        if key in seen:
            continue
        seen.add(key)
        drafts.append((item, key, stem, inputs, options, error))
    return _named(drafts, out_dir, ext)


def _named(drafts: list[Any], out_dir: Path, ext: str) -> list[Task]:
    """The output path of each task: the name a manifest row asks for, else content stem and
    style; names that would collide get a piece of their key."""
    wanted: list[str] = []
    for item, _, stem, _, _, _ in drafts:
        if item.output is not None:
            name = Path(item.output)
            if name.is_absolute() or ".." in name.parts:
                raise InvalidOption(f"{item.origin}: output {item.output} must be a name "
                                    "inside the output folder")
            wanted.append(name.as_posix())
        else:
            wanted.append(f"{stem}.{ext}")
    asked = Counter(w for w, (item, *_) in zip(wanted, drafts, strict=True)
                    if item.output is not None)
    for name, count in asked.items():
        if count > 1:
            raise InvalidOption(f"{count} manifest rows ask for the same output {name}")
    counts = Counter(w.lower() for w in wanted)
    tasks = []
    for index, ((item, key, _, inputs, options, error), name) in enumerate(
            zip(drafts, wanted, strict=True), start=1):
        if counts[name.lower()] > 1 and item.output is None:
            base, _, suffix = name.rpartition(".")
            name = f"{base}-{key[:8]}.{suffix}"
        tasks.append(Task(index, key, item.content, item.styles, item.method, options,
                          str(out_dir / name), item.origin, inputs, error))
    return tasks


def refuse_inputs_as_outputs(tasks: list[Task]) -> None:
    """No task may write over an input of the batch (a content, a style), whatever path
    leads to it (a symlink, a hard link: the same file on disk)."""
    inodes: dict[tuple[int, int], str] = {}
    for path in {t.content for t in tasks} | {s for t in tasks for s in t.styles}:
        with contextlib.suppress(OSError):
            info = os.stat(path)
            inodes[(info.st_dev, info.st_ino)] = path
    for task in tasks:
        try:
            info = os.stat(task.output)
        except OSError:
            continue
        found = inodes.get((info.st_dev, info.st_ino))
        if found is not None:
            raise InvalidOption(f"the output {task.output} is an input of this batch "
                                f"({found}); choose another output folder so the input is "
                                "not overwritten")
