"""Rebuild the licence-clean training set of the shipped models from ../shared/data/train.

    python scripts/training_set.py OUT [--source ../shared/data/train] [--link] [--check]
    python scripts/training_set.py OUT --folders paintings coco-clean open_photos [--link]
    python scripts/training_set.py --attributions src/impasto/ATTRIBUTIONS.md
    python scripts/training_set.py --check-attributions src/impasto/ATTRIBUTIONS.md

Without ``--folders`` it writes two flat folders, each with a ``manifest.json`` (every file's
name, SHA-256, licence, attribution and origin folder, and a summary of counts by licence):

- ``OUT/content``: the 31 COCO photos under CC BY 2.0 or CC BY-SA 2.0 (``photos/``, by the
  licence column of the COCO table in ``SOURCES.md``) and the 144 public-domain paintings
  (``paintings/``, every file of the per-file table in ``SOURCES.md``): the ``--data`` folder
  of every shipped model (175 pictures; the trainers hold out the last 4 by name);
- ``OUT/styles``: the 144 paintings, the ``--styles`` folder of the shipped AdaIN decoders.

No research-only or NonCommercial / NoDerivs picture is taken. ``--check`` rebuilds
the set of each shipped model (the folders its ``training.training_set`` names; the default
set where it names none) and compares it with the lists its ``config.json`` records
(``training.training_files``, ``training.style_files``), exiting 1 on any difference.

``--folders NAME ...`` builds ``OUT/content`` from the named licence-clean folders instead:

- ``paintings``: ``paintings/``, the 144 public-domain paintings;
- ``coco-clean``: the 31 CC BY / CC BY-SA COCO photos of ``photos/``;
- ``open_photos``: ``open_photos/``, photos under CC0 / public domain, CC BY, CC BY-SA, the
  Unsplash or the Pexels License, by the per-file tables of ``open_photos/SOURCES.md`` (every
  file of the folder must have a row with an allowed licence, or the build stops).

``OUT/styles`` holds the ``--style-folders`` (default: ``paintings`` when it is named). Any other
name (``photos`` as a whole, ``bsds500``, ``imagenet``, ...) is refused with exit status 2.
Without OUT, ``--folders`` only prints the counts.

``--attributions PATH`` writes the credits the CC BY / CC BY-SA licences ask for (the 31 COCO
photos the shipped models trained on, and the ``open_photos`` files), from the same tables;
``--check-attributions PATH`` exits 1 when PATH differs from what would be written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "train"
PRETRAINED = REPO / "src" / "impasto" / "models" / "pretrained"
ATTRIBUTIONS = REPO / "src" / "impasto" / "ATTRIBUTIONS.md"
#: COCO licences (as ``SOURCES.md`` names them) that allow any use with attribution.
CLEAN_PHOTO_LICENCES = {"Attribution License": "CC BY 2.0",
                        "Attribution-ShareAlike License": "CC BY-SA 2.0"}
PAINTING_LICENCE = "public domain (reproduction of a public-domain painting)"

#: The licence-clean folders ``--folders`` takes: name -> (folder under the source, what).
CLEAN_FOLDERS = {
    "paintings": ("paintings", "the 144 public-domain paintings of paintings/"),
    "coco-clean": ("photos", "the 31 CC BY / CC BY-SA COCO photos of photos/"),
    "open_photos": ("open_photos", "the openly licensed photos of open_photos/"),
}
#: Names that are refused, and why.
UNCLEAN_FOLDERS = {
    "photos": "photos/ as a whole holds NonCommercial / NoDerivs COCO photos and the "
              "research-only BSDS500 and ImageNet pictures (name coco-clean for its 31 clean "
              "photos)",
    "coco": "most COCO photos of photos/ are NonCommercial or NoDerivs (name coco-clean for "
            "the 31 CC BY / CC BY-SA ones)",
    "bsds500": "BSDS500 is Corel images, free only for non-commercial research and education",
    "imagenet": "the ImageNet terms allow non-commercial research and education only",
}
DEFAULT_FOLDERS = ("coco-clean", "paintings")
#: Licence families (as open_photos/SOURCES.md counts them) that ask for attribution.
ATTRIBUTION_FAMILIES = ("CC BY", "CC BY-SA")
LICENCE_URLS = {"CC BY": "https://creativecommons.org/licenses/by/{}/",
                "CC BY-SA": "https://creativecommons.org/licenses/by-sa/{}/"}


class Refused(ValueError):
    """A folder name that is not licence-clean (or not known)."""


@dataclass(frozen=True)
class Picture:
    """One selected file with its licence and attribution as the source tables give them."""

    path: Path
    licence: str           # normalised, e.g. "CC BY-SA 3.0"
    family: str            # e.g. "CC BY-SA" (the families open_photos/SOURCES.md counts)
    folder: str            # the --folders name it came from
    author: str | None = None
    title: str | None = None
    url: str | None = None
    stated: str | None = None  # the licence cell as SOURCES.md writes it, where it differs


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cells(line: str) -> list[str]:
    """The cells of a markdown table row (``\\|`` is a pipe inside a cell)."""
    inner = line.strip()
    inner = inner[1:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner[1:]
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", inner)]


def _tables(sources: str) -> dict[str, list[list[str]]]:
    """The rows of each markdown table in ``sources`` (header row included), by the heading
    above it."""
    found: dict[str, list[list[str]]] = {}
    heading = ""
    for line in sources.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("|") and not re.match(r"^\|\s*:?-", line):
            found.setdefault(heading, []).append(_cells(line))
    return found


def normalise_licence(stated: str) -> tuple[str, str]:
    """``(licence, family)`` of a licence cell of ``open_photos/SOURCES.md``; ValueError for
    anything that is not CC0 / public domain, CC BY, CC BY-SA, Unsplash or Pexels."""
    s = stated.strip()
    if re.search(r"\bN[CD]\b", s) or re.search(r"noncommercial|noderiv", s, re.IGNORECASE):
        raise ValueError(f"not licence-clean: {stated!r}")
    if m := re.match(r"CC (BY(?:-SA)?) (\d\.\d)\b", s):
        return f"CC {m[1]} {m[2]}", f"CC {m[1]}"
    if re.match(r"CC0\b", s):
        return "CC0 1.0", "CC0 / public domain"
    if s.lower().startswith("public domain"):
        return "public domain", "CC0 / public domain"
    if s.startswith("Unsplash/Pexels") or s.startswith("Unsplash or Pexels"):
        return "Unsplash or Pexels License", "Unsplash or Pexels License"
    if s.startswith("Unsplash"):
        return "Unsplash License", "Unsplash License"
    if s.startswith("Pexels"):
        return "Pexels License", "Pexels License"
    raise ValueError(f"unknown licence: {stated!r}")


def _main_tables(source: Path) -> tuple[list[list[str]], list[list[str]]]:
    tables = _tables((source / "SOURCES.md").read_text(encoding="utf-8"))
    paintings_table = next(rows for h, rows in tables.items() if h.startswith("paintings/"))
    coco_table = next(rows for h, rows in tables.items() if h.startswith("coco_"))
    return paintings_table, coco_table


def paintings(source: Path) -> list[Picture]:
    """Every file of the per-file painting table of ``SOURCES.md`` (all public domain)."""
    table, _ = _main_tables(source)
    header = table[0]
    artist, title = header.index("artist"), next(
        i for i, h in enumerate(header) if h.startswith("title"))
    return [Picture(source / "paintings" / row[0], PAINTING_LICENCE, "public domain",
                    "paintings", author=row[artist] or None, title=row[title] or None)
            for row in table[1:] if row[0].endswith(".jpg")]


def coco_clean(source: Path) -> list[Picture]:
    """The COCO photos of ``photos/`` under CC BY 2.0 or CC BY-SA 2.0 (COCO names no author;
    the Flickr URL identifies each)."""
    _, table = _main_tables(source)
    header = table[0]
    url = header.index("flickr_url") if "flickr_url" in header else None
    return [Picture(source / "photos" / row[0], CLEAN_PHOTO_LICENCES[row[1]],
                    CLEAN_PHOTO_LICENCES[row[1]].rsplit(" ", 1)[0], "coco-clean",
                    url=row[url] if url is not None and row[url] else None)
            for row in table[1:] if row[0].endswith(".jpg") and row[1] in CLEAN_PHOTO_LICENCES]


def _counts(cell: str) -> Counter:
    """``"CC BY-SA 225, Unsplash or Pexels License 10"`` as a Counter."""
    found: Counter = Counter()
    for part in cell.split(","):
        name, _, count = part.strip().rpartition(" ")
        found[name] += int(count)
    return found


def open_photos(source: Path) -> tuple[list[Picture], list[tuple[str, str]]]:
    """The files of ``open_photos/`` by the per-file tables of its ``SOURCES.md``, and the
    ones left out (``(name, reason)``). Stops (SystemExit) on a file of the folder without a
    row, a row without a file, a licence that is not allowed, or counts that disagree with
    the summary table."""
    folder = source / "open_photos"
    text = (folder / "SOURCES.md").read_text(encoding="utf-8")
    problems: list[str] = []
    rows: dict[str, dict[str, str]] = {}
    summary: dict[str, Counter] = {}
    heading, header = "", None
    per_file = None  # the prefix of the per-file table being read
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("#"):
            heading, header = line.lstrip("#").strip(), None
            m = re.match(r"`(\w+_)` \((\d+) files\)", heading)
            per_file = m[1] if m else None
            if m:
                summary.setdefault(f"{m[1]} heading", Counter())["files"] = int(m[2])
            continue
        if not line.startswith("|") or re.match(r"^\|\s*:?-", line):
            continue
        cells = _cells(line)
        if header is None:
            header = cells
            continue
        if len(cells) != len(header):
            problems.append(f"line {number}: {len(cells)} cells, its table has {len(header)}")
            continue
        row = dict(zip(header, cells, strict=True))
        if heading == "Summary" and "prefix" in row:
            summary[row["prefix"].strip("`")] = _counts(row["licence (files)"])
        elif per_file is not None:
            name = row.get("file", "")
            if not name.startswith(per_file):
                problems.append(f"line {number}: {name!r} is not a {per_file} file")
            elif name in rows:
                problems.append(f"line {number}: {name} is listed twice")
            else:
                rows[name] = row | {"_prefix": per_file}
    on_disk = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != "SOURCES.md")
    problems += [f"{name}: in the folder, but no per-file row gives its licence"
                 for name in on_disk if name not in rows]
    problems += [f"{name}: listed, but not in the folder" for name in rows if
                 not (folder / name).is_file()]
    pictures, left_out = [], []
    families: dict[str, Counter] = {}
    for name in sorted(rows):
        row = rows[name]
        stated = row.get("licence", "")
        try:
            licence, family = normalise_licence(stated)
        except ValueError as error:
            problems.append(f"{name}: {error}")
            continue
        families.setdefault(row["_prefix"], Counter())[family] += 1
        author, title = row.get("author / attribution"), None
        if "author (title)" in row:
            m = re.fullmatch(r'(.*?)\s*\("(.*)"\)', row["author (title)"])
            author, title = (m[1], m[2]) if m else (row["author (title)"], None)
        url = row.get("source URL") or None
        if family in ATTRIBUTION_FAMILIES and not author and not url:
            left_out.append((name, f"{licence} asks for attribution, and SOURCES.md gives "
                                   "neither an author nor a source URL"))
            continue
        pictures.append(Picture(folder / name, licence, family, "open_photos",
                                author=author or None, title=title or None, url=url,
                                stated=stated if stated != licence else None))
    for prefix, counts in families.items():
        if summary.get(f"{prefix} heading", {}).get("files") != sum(counts.values()):
            problems.append(f"{prefix}: the table heading's count differs from its rows")
        if prefix in summary and summary[prefix] != counts:
            problems.append(f"{prefix}: the summary table says {dict(summary[prefix])}, the "
                            f"per-file rows give {dict(counts)}")
    missing_summary = sorted(set(families) - set(summary))
    problems += [f"{prefix}: no row in the summary table" for prefix in missing_summary]
    if problems:
        raise SystemExit("open_photos/SOURCES.md: " + "; ".join(problems))
    return pictures, left_out


def resolve(names: list[str]) -> list[str]:
    """The ``--folders`` names, normalised (``train/photos/`` -> ``photos``); Refused for a
    name that is not licence-clean or not known."""
    resolved = []
    for given in names:
        name = given.strip().rstrip("/").lower()
        name = re.sub(r"^(.*/)?train/", "", name)
        name = {"coco_clean": "coco-clean", "open-photos": "open_photos"}.get(name, name)
        if name.startswith("bsds500"):
            name = "bsds500"
        elif name.startswith("imagenet"):
            name = "imagenet"
        if name in UNCLEAN_FOLDERS:
            raise Refused(f"refused {given!r}: not licence-clean: {UNCLEAN_FOLDERS[name]}")
        if name not in CLEAN_FOLDERS:
            raise Refused(f"refused {given!r}: not a licence-clean folder name (known: "
                          f"{', '.join(CLEAN_FOLDERS)})")
        if name not in resolved:
            resolved.append(name)
    return resolved


def gather(source: Path, names: list[str]) -> tuple[list[Picture], list[tuple[str, str]]]:
    """The pictures of the named (resolved) folders, sorted by name, and those left out."""
    found: list[Picture] = []
    left_out: list[tuple[str, str]] = []
    for name in names:
        if name == "paintings":
            found += paintings(source)
        elif name == "coco-clean":
            found += coco_clean(source)
        else:
            pictures, dropped = open_photos(source)
            found += pictures
            left_out += dropped
    missing = [str(p.path) for p in found if not p.path.is_file()]
    if missing:
        raise SystemExit(f"SOURCES.md lists files that are not there: {', '.join(missing)}")
    file_names = [p.path.name for p in found]
    if len(set(file_names)) != len(file_names):
        raise SystemExit("two selected files share a name; the flat folders need distinct ones")
    return sorted(found, key=lambda p: p.path.name), left_out


def select(source: Path, folders: list[str] | tuple[str, ...] = DEFAULT_FOLDERS,
           style_folders: list[str] | tuple[str, ...] | None = None
           ) -> tuple[dict[str, list[Picture]], list[tuple[str, str]]]:
    """The licence-clean files of ``source`` for ``{"content": [...], "styles": [...]}``
    (``styles`` only when there are style folders; default: ``paintings`` if named), each
    sorted by name, and the files left out with their reasons."""
    folders = resolve(list(folders))
    if style_folders is None:
        style_folders = ["paintings"] if "paintings" in folders else []
    style_folders = resolve(list(style_folders))
    content, left_out = gather(source, folders)
    selected = {"content": content}
    if style_folders:
        selected["styles"] = gather(source, style_folders)[0]
    return selected, left_out


def _place(src: Path, dst: Path, link: bool) -> None:
    if link:
        try:
            os.link(src, dst)
            return
        except OSError:  # another file system: copy instead
            pass
    shutil.copyfile(src, dst)


def _entry(p: Picture) -> dict:
    entry = {"name": p.path.name, "sha256": sha256(p.path), "licence": p.licence,
             "origin": f"{p.path.parent.name}/{p.path.name}"}
    if p.stated:
        entry["licence_as_stated"] = p.stated
    entry["attribution"] = {"author": p.author, "title": p.title, "url": p.url}
    entry["folder"] = p.folder
    return entry


def summary(entries: list[dict], left_out: list[tuple[str, str]] = ()) -> dict:
    """Counts of a manifest's files: in all, by licence and by ``--folders`` name."""
    found = {"pictures": len(entries),
             "by_licence": dict(sorted(Counter(e["licence"] for e in entries).items())),
             "by_folder": dict(sorted(Counter(e["folder"] for e in entries).items()))}
    if left_out:
        found["left_out"] = [{"name": n, "reason": r} for n, r in left_out]
    return found


def build(source: Path, out: Path | None, *, link: bool = False,
          folders: list[str] | tuple[str, ...] = DEFAULT_FOLDERS,
          style_folders: list[str] | tuple[str, ...] | None = None) -> dict[str, list[dict]]:
    """The manifests of the rebuilt set (``{"content": [...], "styles": [...]}``, entries
    ``{"name", "sha256", "licence", "origin", "attribution", "folder"}``); with ``out``, the
    folders too (each must be absent or empty). The defaults rebuild the shipped models'
    set."""
    selected, left_out = select(source, folders, style_folders)
    manifests: dict[str, list[dict]] = {}
    for folder, files in selected.items():
        entries = [_entry(p) for p in files]
        manifests[folder] = entries
        if out is None:
            continue
        target = out / folder
        if target.exists() and any(target.iterdir()):
            raise SystemExit(f"{target} is not empty: give a new folder")
        target.mkdir(parents=True, exist_ok=True)
        for p in files:
            _place(p.path, target / p.path.name, link)
        dropped = left_out if folder == "content" else []
        (target / "manifest.json").write_text(json.dumps(
            {"source": str(source), "script": "scripts/training_set.py",
             "folders": sorted({e["folder"] for e in entries}),
             "summary": summary(entries, dropped), "files": entries},
            indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifests


def record_lists(manifests: dict[str, list[dict]]) -> dict[str, list[dict[str, str]]]:
    """What a model's ``config.json`` records of the set: ``training_files`` (the ``--data``
    folder) and ``style_files`` (the ``--styles`` folder), names and SHA-256 only."""
    return {key: [{"name": e["name"], "sha256": e["sha256"]} for e in manifests.get(folder, [])]
            for key, folder in (("training_files", "content"), ("style_files", "styles"))}


def trained_folders(training: dict) -> tuple[str, ...]:
    """The folders a shipped model's training set came from (``training.training_set.folders``;
    the default set's where the record names none)."""
    return tuple(sorted((training.get("training_set") or {}).get("folders")
                        or DEFAULT_FOLDERS))


def check_shipped(source: Path, pretrained: Path = PRETRAINED) -> list[str]:
    """Differences between the sets rebuilt from ``source`` and each shipped model's recorded
    lists (none: every model records the set it was trained on, rebuilt from the folders its
    record names)."""
    built: dict[tuple[str, ...], dict[str, list[dict[str, str]]]] = {}
    problems = []
    for config_path in sorted(pretrained.glob("*/config.json")):
        training = json.loads(config_path.read_text()).get("training", {})
        name = config_path.parent.name
        folders = trained_folders(training)
        if folders not in built:
            built[folders] = record_lists(build(source, None, folders=list(folders)))
        lists = built[folders]
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


def _md(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def _licence_link(licence: str) -> str:
    family, _, version = licence.rpartition(" ")
    url = LICENCE_URLS.get(family)
    return f"[{licence}]({url.format(version)})" if url else licence


def _models_using(names: set[str], pretrained: Path) -> list[str]:
    used = []
    for config_path in sorted(pretrained.glob("*/config.json")):
        training = json.loads(config_path.read_text()).get("training", {})
        files = {e["name"] for key in ("training_files", "style_files")
                 for e in training.get(key) or []}
        if files & names:
            used.append(config_path.parent.name)
    return used


def _section(pictures: list[Picture]) -> list[str]:
    lines = ["| file | licence | author | title | source URL |", "| --- | --- | --- | --- | --- |"]
    for p in sorted(pictures, key=lambda p: p.path.name):
        author = _md(p.author) or "(not named by the source)"
        lines.append(f"| {p.path.name} | {_licence_link(p.licence)} | {author} | "
                     f"{_md(p.title)} | {_md(p.url)} |")
    return lines


def attributions_text(source: Path, pretrained: Path = PRETRAINED) -> str:
    """``ATTRIBUTIONS.md``: the credits the CC BY / CC BY-SA licences of the training pictures
    ask for, from the tables of ``SOURCES.md`` and ``open_photos/SOURCES.md`` (sorted: the same
    data give the same text)."""
    coco = coco_clean(source)
    opened, left_out = open_photos(source)
    # open_photos/SOURCES.md repeats the COCO list; the two must agree.
    also = next((rows for h, rows in _tables(
        (source / "open_photos" / "SOURCES.md").read_text(encoding="utf-8")).items()
        if h.startswith("Also usable")), [])
    listed = sorted((r[0].rsplit("/", 1)[-1], r[1]) for r in also[1:] if r[0].endswith(".jpg"))
    if listed != sorted((p.path.name, p.licence) for p in coco):
        raise SystemExit("the COCO list of open_photos/SOURCES.md differs from SOURCES.md's")
    credited = [p for p in opened if p.family in ATTRIBUTION_FAMILIES]
    rest = Counter(p.family for p in opened if p.family not in ATTRIBUTION_FAMILIES)
    coco_models = _models_using({p.path.name for p in coco}, pretrained)
    open_models = _models_using({p.path.name for p in opened}, pretrained)

    def by(ps: list[Picture]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(Counter(p.licence for p in ps).items()))

    lines = [
        "# Attributions for the training pictures",
        "",
        "Generated by `python scripts/training_set.py --attributions src/impasto/ATTRIBUTIONS.md`"
        " from the licence tables of the shared training data (`../shared/data/train/"
        "SOURCES.md` and `open_photos/SOURCES.md`); do not edit by hand.",
        "",
        "The shipped models' weights are under the package's licence (MIT; see each model's "
        "card in `models/pretrained/*/config.json`). The photos below are under Creative "
        "Commons licences that ask for credit to the author (where named), a link to the "
        "licence and a note of changes wherever the pictures or their use are described; "
        "that credit is given here. CC BY-SA also asks that adapted versions of the photos "
        "themselves be shared under the same licence. Changes: every picture was decoded, "
        "converted to sRGB RGB, centre-cropped to 2:1 where wider, resized with Lanczos to a "
        "shorter side of 288 px and re-encoded as JPEG (quality 85).",
        "",
        f"- Section 1 (COCO 2017 photos): used by the shipped models "
        f"{', '.join(f'`{m}`' for m in coco_models) or '(none)'}.",
        "- Section 2 (`open_photos`): "
        + (f"used by the shipped models {', '.join(f'`{m}`' for m in open_models)}."
           if open_models else "used by no shipped model yet; it applies to models trained on "
           "it (`scripts/training_set.py OUT --folders ... open_photos`)."),
        "",
        "The shipped models' other training pictures are reproductions of public-domain "
        "paintings, which need no credit (listed with artist and title in `SOURCES.md`).",
        "",
        f"## 1. COCO 2017 photos ({len(coco)} files: {by(coco)})",
        "",
        "From COCO128 (MS-COCO 2017 train); Flickr photos, each under the licence the COCO "
        "annotations give. COCO names no photographer: the Flickr URL identifies the photo "
        "and its author.",
        "",
        *_section(coco),
        "",
        f"## 2. open_photos ({len(credited)} files under CC BY or CC BY-SA: {by(credited)})",
        "",
        f"The folder's other {sum(rest.values())} files ("
        + ", ".join(f"{k} {v}" for k, v in sorted(rest.items()))
        + ") need no attribution; `open_photos/SOURCES.md` credits them too. Authors and "
        "URLs are as the sources give them (the `cocoval_` files: COCO 2017 val, Flickr URL "
        "only).",
        "",
    ]
    if left_out:
        lines += ["Left out of every training set (not to be trained on):", ""]
        lines += [f"- {name}: {reason}" for name, reason in left_out] + [""]
    lines += [*_section(credited), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?",
                        help="Folder to write content/ and styles/ into (none: --check only).")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="The shared training data (default: ../shared/data/train).")
    parser.add_argument("--link", action="store_true",
                        help="Hard-link the files instead of copying them.")
    parser.add_argument("--check", action="store_true",
                        help="Compare the shipped models' set with their recorded lists; exit "
                             "1 if any differs.")
    parser.add_argument("--folders", nargs="+", metavar="NAME",
                        help="Build OUT/content from these licence-clean folders: "
                             + ", ".join(CLEAN_FOLDERS) + " (default: the shipped models' "
                             "set, coco-clean and paintings).")
    parser.add_argument("--style-folders", nargs="*", metavar="NAME",
                        help="The folders of OUT/styles (default: paintings when --folders "
                             "names it; none: no styles folder).")
    parser.add_argument("--attributions", type=Path, metavar="PATH",
                        help="Write the CC BY / BY-SA credits (ATTRIBUTIONS.md) to PATH.")
    parser.add_argument("--check-attributions", type=Path, metavar="PATH",
                        help="Exit 1 if PATH differs from what --attributions would write.")
    args = parser.parse_args(argv)
    if (args.out is None and not args.check and args.folders is None
            and args.attributions is None and args.check_attributions is None):
        parser.error("give OUT, --folders, --check, --attributions or --check-attributions")
    if args.style_folders is not None and args.folders is None:
        parser.error("--style-folders goes with --folders")
    try:
        folders = resolve(args.folders) if args.folders is not None else list(DEFAULT_FOLDERS)
        styles = resolve(args.style_folders) if args.style_folders is not None else None
    except Refused as error:
        print(f"training_set.py: {error}", file=sys.stderr)
        return 2
    if not (args.source / "SOURCES.md").is_file():
        parser.error(f"{args.source} holds no SOURCES.md (the shared training data)")
    status = 0
    if args.out is not None or args.folders is not None:
        manifests = build(args.source, args.out, link=args.link, folders=folders,
                          style_folders=styles)
        for folder, entries in manifests.items():
            where = f" in {args.out / folder}" if args.out else ""
            counts = ", ".join(f"{k} {v}" for k, v in summary(entries)["by_licence"].items())
            print(f"{folder}: {len(entries)} pictures{where} ({counts})")
        if "open_photos" in folders:
            for name, reason in open_photos(args.source)[1]:
                print(f"left out {name}: {reason}", file=sys.stderr)
    if args.check:
        problems = check_shipped(args.source)
        for line in problems:
            print(line, file=sys.stderr)
        print("the shipped models' lists match" if not problems else
              f"{len(problems)} differences")
        status = max(status, 1 if problems else 0)
    if args.attributions is not None or args.check_attributions is not None:
        text = attributions_text(args.source)
        if args.attributions is not None:
            args.attributions.write_text(text, encoding="utf-8")
            print(f"wrote {args.attributions}")
        if args.check_attributions is not None:
            path = args.check_attributions
            current = path.read_text(encoding="utf-8") if path.is_file() else None
            if current != text:
                print(f"{path} is out of date: rerun with --attributions {path}",
                      file=sys.stderr)
                status = max(status, 1)
            else:
                print(f"{path} is up to date")
    return status


if __name__ == "__main__":
    sys.exit(main())
