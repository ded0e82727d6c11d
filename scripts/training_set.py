"""Rebuild the licence-clean training set of the shipped models from ../shared/data/train.

    python scripts/training_set.py OUT [--source ../shared/data/train] [--link] [--check]

writes two flat folders, each with a ``manifest.json`` (every file's name, SHA-256, licence
and origin folder):

- ``OUT/content``: the 31 COCO photos under CC BY 2.0 or CC BY-SA 2.0 (``photos/``, by the
  licence column of the COCO table in ``SOURCES.md``) and the 144 public-domain paintings
  (``paintings/``, every file of the per-file table in ``SOURCES.md``): the ``--data`` folder
  of every shipped model (175 pictures; the trainers hold out the last 4 by name);
- ``OUT/styles``: the 144 paintings, the ``--styles`` folder of the shipped AdaIN decoders.

No research-only or NonCommercial / NoDerivs picture is taken. ``--check`` compares the
manifests with the lists the shipped models' ``config.json`` records
(``training.training_files``, ``training.style_files``) and exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "train"
PRETRAINED = REPO / "src" / "impasto" / "models" / "pretrained"
#: COCO licences (as ``SOURCES.md`` names them) that allow any use with attribution.
CLEAN_PHOTO_LICENCES = {"Attribution License": "CC BY 2.0",
                        "Attribution-ShareAlike License": "CC BY-SA 2.0"}
PAINTING_LICENCE = "public domain (reproduction of a public-domain painting)"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tables(sources: str) -> dict[str, list[list[str]]]:
    """The rows of each markdown table in ``sources``, by the heading above it."""
    found: dict[str, list[list[str]]] = {}
    heading = ""
    for line in sources.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("|") and not re.match(r"^\|\s*-", line):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            found.setdefault(heading, []).append(cells)
    return found


def select(source: Path) -> dict[str, list[tuple[Path, str]]]:
    """The licence-clean files of ``source`` (``SOURCES.md``'s lists), with their licences:
    ``{"content": [...], "styles": [...]}``, each sorted by name."""
    tables = _tables((source / "SOURCES.md").read_text(encoding="utf-8"))
    paintings_table = next(rows for h, rows in tables.items() if h.startswith("paintings/"))
    coco_table = next(rows for h, rows in tables.items() if h.startswith("coco_"))
    paintings = [(source / "paintings" / row[0], PAINTING_LICENCE)
                 for row in paintings_table if row[0].endswith(".jpg")]
    photos = [(source / "photos" / row[0], CLEAN_PHOTO_LICENCES[row[1]])
              for row in coco_table if row[0].endswith(".jpg") and row[1] in CLEAN_PHOTO_LICENCES]
    missing = [str(p) for p, _ in paintings + photos if not p.is_file()]
    if missing:
        raise SystemExit(f"SOURCES.md lists files that are not there: {', '.join(missing)}")
    names = [p.name for p, _ in paintings + photos]
    if len(set(names)) != len(names):
        raise SystemExit("two selected files share a name; the flat folders need distinct ones")
    return {"content": sorted(photos + paintings, key=lambda e: e[0].name),
            "styles": sorted(paintings, key=lambda e: e[0].name)}


def _place(src: Path, dst: Path, link: bool) -> None:
    if link:
        try:
            os.link(src, dst)
            return
        except OSError:  # another file system: copy instead
            pass
    shutil.copyfile(src, dst)


def build(source: Path, out: Path | None, *, link: bool = False) -> dict[str, list[dict]]:
    """The manifests of the rebuilt set (``{"content": [...], "styles": [...]}``, entries
    ``{"name", "sha256", "licence", "origin"}``); with ``out``, the folders too (each must be
    absent or empty)."""
    manifests: dict[str, list[dict]] = {}
    for folder, files in select(source).items():
        entries = [{"name": p.name, "sha256": sha256(p), "licence": licence,
                    "origin": f"{p.parent.name}/{p.name}"} for p, licence in files]
        manifests[folder] = entries
        if out is None:
            continue
        target = out / folder
        if target.exists() and any(target.iterdir()):
            raise SystemExit(f"{target} is not empty: give a new folder")
        target.mkdir(parents=True, exist_ok=True)
        for p, _ in files:
            _place(p, target / p.name, link)
        (target / "manifest.json").write_text(json.dumps(
            {"source": str(source), "script": "scripts/training_set.py", "files": entries},
            indent=2) + "\n")
    return manifests


def record_lists(manifests: dict[str, list[dict]]) -> dict[str, list[dict[str, str]]]:
    """What a model's ``config.json`` records of the set: ``training_files`` (the ``--data``
    folder) and ``style_files`` (the ``--styles`` folder), names and SHA-256 only."""
    return {key: [{"name": e["name"], "sha256": e["sha256"]} for e in manifests[folder]]
            for key, folder in (("training_files", "content"), ("style_files", "styles"))}


def check_shipped(manifests: dict[str, list[dict]], pretrained: Path = PRETRAINED
                  ) -> list[str]:
    """Differences between the rebuilt set and each shipped model's recorded lists (none:
    the set is the one the models record)."""
    lists = record_lists(manifests)
    problems = []
    for config_path in sorted(pretrained.glob("*/config.json")):
        training = json.loads(config_path.read_text()).get("training", {})
        name = config_path.parent.name
        for key, wanted in lists.items():
            if key == "style_files" and not training.get("style_pictures"):
                continue
            if training.get(key) != wanted:
                problems.append(f"{name}: training.{key} differs from the rebuilt set")
        count = training.get("pictures", 0) + len(training.get("held_out", []))
        if count != len(lists["training_files"]):
            problems.append(f"{name}: trained on {count} pictures, the set has "
                            f"{len(lists['training_files'])}")
        held = [e["name"] for e in lists["training_files"]][-len(training.get("held_out", [])):]
        if training.get("held_out") and held != training["held_out"]:
            problems.append(f"{name}: its held-out pictures are not the set's last ones")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?",
                        help="Folder to write content/ and styles/ into (none: --check only).")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="The shared training data (default: ../shared/data/train).")
    parser.add_argument("--link", action="store_true",
                        help="Hard-link the files instead of copying them.")
    parser.add_argument("--check", action="store_true",
                        help="Compare with the shipped models' recorded lists; exit 1 if any "
                             "differs.")
    args = parser.parse_args(argv)
    if args.out is None and not args.check:
        parser.error("give OUT, --check, or both")
    if not (args.source / "SOURCES.md").is_file():
        parser.error(f"{args.source} holds no SOURCES.md (the shared training data)")
    manifests = build(args.source, args.out, link=args.link)
    for folder, entries in manifests.items():
        where = f" in {args.out / folder}" if args.out else ""
        print(f"{folder}: {len(entries)} pictures{where}")
    if args.check:
        problems = check_shipped(manifests)
        for line in problems:
            print(line, file=sys.stderr)
        print("the shipped models' lists match" if not problems else
              f"{len(problems)} differences")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
