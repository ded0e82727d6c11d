"""scripts/training_set.py: licence-clean sets from named folders, their manifests, the
refusal of unclean folders, the open_photos licence tables and the shipped ATTRIBUTIONS.md."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "training_set.py"
TRAIN = REPO.parent / "shared" / "data" / "train"
SHIPPED_ATTRIBUTIONS = REPO / "src" / "impasto" / "ATTRIBUTIONS.md"


def _load_script():
    spec = importlib.util.spec_from_file_location("training_set_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


ts = _load_script()


@pytest.fixture
def train() -> Path:
    if not (TRAIN / "SOURCES.md").is_file() or not (TRAIN / "open_photos").is_dir():
        pytest.skip("../shared/data/train is not present: skipped")
    return TRAIN


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_build_from_named_folders_writes_a_manifest_whose_hashes_match(
        train: Path, tmp_path: Path) -> None:
    out = tmp_path / "set"
    assert ts.main([str(out), "--folders", "coco-clean", "--link"]) == 0
    assert not (out / "styles").exists()  # no paintings named: no styles folder
    manifest = json.loads((out / "content" / "manifest.json").read_text(encoding="utf-8"))
    files = manifest["files"]
    assert [e["name"] for e in files] == sorted(p.name for p in (out / "content").glob("*.jpg"))
    assert len(files) == 31
    for entry in files:
        assert entry["sha256"] == _sha256(out / "content" / entry["name"])
        assert entry["licence"] in {"CC BY 2.0", "CC BY-SA 2.0"}
        assert entry["origin"] == f"photos/{entry['name']}"
        assert entry["folder"] == "coco-clean"
        assert entry["attribution"]["url"].startswith("http")
    assert manifest["summary"] == {"pictures": 31,
                                   "by_licence": {"CC BY 2.0": 19, "CC BY-SA 2.0": 12},
                                   "by_folder": {"coco-clean": 31}}


def test_named_paintings_go_to_content_and_styles(train: Path) -> None:
    manifests = ts.build(train, None, folders=["paintings", "open_photos"])
    assert set(manifests) == {"content", "styles"}
    assert len(manifests["styles"]) == 144
    assert {e["folder"] for e in manifests["styles"]} == {"paintings"}
    counts = Counter(e["folder"] for e in manifests["content"])
    assert counts["paintings"] == 144 and counts["open_photos"] >= 684
    assert ts.build(train, None, folders=["open_photos"], style_folders=[]).keys() == {"content"}


def test_the_default_set_is_still_the_shipped_models_one(train: Path) -> None:
    manifests = ts.build(train, None)
    assert ts.check_shipped(train) == []
    assert ts.build(train, None, folders=["paintings", "coco-clean"]) == manifests


def test_a_model_that_records_another_set_is_checked_against_that_set(
        train: Path, tmp_path: Path) -> None:
    """The check rebuilds the set a model's record names: a record of the photos-only set
    passes against it, and the same record said to be of the default set does not."""
    lists = ts.record_lists(ts.build(train, None, folders=["open_photos", "coco-clean"]))
    files = lists["training_files"]
    training = {"training_files": files, "pictures": len(files) - 2,
                "held_out": [e["name"] for e in files[-2:]],
                "training_set": {"folders": ["open_photos", "coco-clean"]}}
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text(json.dumps({"training": training}))
    assert ts.check_shipped(train, tmp_path) == []
    del training["training_set"]
    (tmp_path / "m" / "config.json").write_text(json.dumps({"training": training}))
    assert ts.check_shipped(train, tmp_path) == [
        "m: training.training_files differs from the rebuilt set",
        f"m: trained on {len(files)} pictures, the set has 175",
        "m: its held-out pictures are not the set's last ones"]


@pytest.mark.parametrize("name", ["photos", "train/photos/", "bsds500", "imagenet", "coco",
                                  "styles"])
def test_an_unclean_folder_is_refused_with_one_line_and_status_2(
        name: str, tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "set"), "--folders",
                          "paintings", name], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1
    assert "refused" in run.stderr
    assert not (tmp_path / "set").exists()


def test_every_open_photos_file_gets_an_allowed_licence(train: Path) -> None:
    pictures, left_out = ts.open_photos(train)
    on_disk = sorted(p.name for p in (train / "open_photos").iterdir()
                     if p.name != "SOURCES.md")
    assert sorted([p.path.name for p in pictures] + [n for n, _ in left_out]) == on_disk
    allowed = {"CC BY", "CC BY-SA", "CC0 / public domain", "Unsplash License",
               "Pexels License", "Unsplash or Pexels License"}
    assert {p.family for p in pictures} <= allowed
    for p in pictures:
        if p.family in ts.ATTRIBUTION_FAMILIES:
            assert p.author or p.url, p.path.name
    # The families add up to the "By licence" line of open_photos/SOURCES.md.
    text = (train / "open_photos" / "SOURCES.md").read_text(encoding="utf-8")
    line = next(x for x in text.splitlines() if x.startswith("By licence:"))
    stated = ts._counts(line.removeprefix("By licence:").rstrip("."))
    parsed = Counter(p.family for p in pictures)
    for name, reason in left_out:
        parsed[re.match(r"(CC BY(?:-SA)?) ", reason)[1]] += 1
        assert name.endswith(".jpg")
    assert parsed == stated


def _fake_source(root: Path, rows: list[str], files: list[str]) -> Path:
    (root / "open_photos").mkdir(parents=True)
    counts = Counter(ts.normalise_licence(r.split("|")[3])[1] for r in rows)
    summary = ", ".join(f"{k} {v}" for k, v in counts.items())
    (root / "open_photos" / "SOURCES.md").write_text(
        "# Open\n\n## Summary\n\n| prefix | files | licence (files) |\n| --- | --- | --- |\n"
        f"| `x_` | {len(rows)} | {summary} |\n\n## Per-file tables\n\n"
        f"### `x_` ({len(rows)} files) - some/repo\n\n"
        "| file | original path | licence | author / attribution | source URL | note |\n"
        "| --- | --- | --- | --- | --- | --- |\n" + "".join(r + "\n" for r in rows),
        encoding="utf-8")
    for name in files:
        (root / "open_photos" / name).write_bytes(name.encode())
    return root


def test_a_file_without_a_licence_row_stops_the_build(tmp_path: Path) -> None:
    source = _fake_source(tmp_path, ["| x_a.jpg | a.jpg | CC BY 4.0 | Ann | |  |"],
                          ["x_a.jpg", "x_b.jpg"])
    with pytest.raises(SystemExit, match=r"x_b\.jpg: in the folder, but no per-file row"):
        ts.open_photos(source)


def test_a_noncommercial_row_stops_the_build(tmp_path: Path) -> None:
    source = _fake_source(tmp_path, ["| x_a.jpg | a.jpg | CC BY 4.0 | Ann | |  |"],
                          ["x_a.jpg"])
    text = (source / "open_photos" / "SOURCES.md").read_text(encoding="utf-8")
    (source / "open_photos" / "SOURCES.md").write_text(
        text.replace("| x_a.jpg | a.jpg | CC BY 4.0 |", "| x_a.jpg | a.jpg | CC BY-NC 4.0 |"),
        encoding="utf-8")
    with pytest.raises(SystemExit, match="not licence-clean"):
        ts.open_photos(source)


def test_licences_are_normalised_or_refused() -> None:
    assert ts.normalise_licence("CC BY 4.0 (repo LICENSE.md)") == ("CC BY 4.0", "CC BY")
    assert ts.normalise_licence("CC BY-SA 3.0") == ("CC BY-SA 3.0", "CC BY-SA")
    assert ts.normalise_licence("CC0 1.0 (StockSnap)")[1] == "CC0 / public domain"
    assert ts.normalise_licence("Unsplash (listed as CC0)")[0] == "Unsplash License"
    assert ts.normalise_licence("Unsplash/Pexels photo (see doubts)")[0] == (
        "Unsplash or Pexels License")
    for unclean in ("CC BY-NC 2.0", "CC BY-ND 4.0", "Attribution-NonCommercial License",
                    "LGPL-3.0", ""):
        with pytest.raises(ValueError):
            ts.normalise_licence(unclean)


def test_the_shipped_attributions_are_up_to_date(train: Path) -> None:
    assert SHIPPED_ATTRIBUTIONS.read_text(encoding="utf-8") == ts.attributions_text(train), (
        "rerun: python scripts/training_set.py --attributions src/impasto/ATTRIBUTIONS.md")
    assert ts.main(["--check-attributions", str(SHIPPED_ATTRIBUTIONS)]) == 0


def test_the_attributions_ship_with_the_package() -> None:
    text = SHIPPED_ATTRIBUTIONS.read_text(encoding="utf-8")
    assert "## 1. COCO 2017 photos" in text and "## 2. open_photos" in text
    for name in ("adain-relu4_1", "wct-relu1_1", "student-relu4_1"):
        assert f"`{name}`" in text
