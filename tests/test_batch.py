"""impasto batch on the local engine, end to end through the CLI: folder and manifest modes,
output names that never collide, resume after a killed run, a corrupt picture in the middle,
outputs identical to impasto stylize, and bad usage refused before any work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from impasto.cli.main import main
from tests.conftest import synthetic_rgb


def _pictures(folder: Path, names: list[str], size: tuple[int, int] = (48, 40)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed, name in enumerate(names):
        path = folder / name
        Image.fromarray(synthetic_rgb(size[1], size[0], seed=seed)).save(path)
        paths.append(path)
    return paths


def _rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]


ADAIN = ["--method", "adain", "--size", "32", "--no-provenance"]


def test_folder_times_styles_and_identical_to_stylize(tmp_path: Path, capsys) -> None:
    photos = _pictures(tmp_path / "in", ["a.jpg", "b.png"])
    styles = _pictures(tmp_path / "styles", ["wave.png"], size=(40, 40))
    out = tmp_path / "out"
    rc = main(["batch", str(tmp_path / "in"), "-o", str(out), "--style", str(styles[0]),
               "--style", "starry-night", *ADAIN])
    assert rc == 0
    rows = _rows(out)
    assert {r["output"] for r in rows} == {"a_wave.png", "a_starry-night.png", "b_wave.png",
                                           "b_starry-night.png"}
    assert all(r["status"] == "done" for r in rows)
    by_output = {r["output"]: r for r in rows}
    assert by_output["a_wave.png"]["styles"][0]["path"] == str(styles[0])
    assert by_output["b_starry-night.png"]["styles"][0]["builtin"] == "starry-night"
    assert "4 made" in capsys.readouterr().err
    # The same picture as impasto stylize with the same options, byte for byte.
    single = tmp_path / "single.png"
    assert main(["stylize", str(photos[1]), str(styles[0]), "-o", str(single), *ADAIN]) == 0
    assert single.read_bytes() == (out / "b_wave.png").read_bytes()


def test_rerun_skips_done_redoes_changed_and_force(tmp_path: Path, capsys) -> None:
    _pictures(tmp_path / "in", ["a.jpg", "b.jpg"])
    out = tmp_path / "out"
    args = ["batch", str(tmp_path / "in"), "-o", str(out), "--style", "starry-night", *ADAIN]
    assert main(args) == 0
    first = {r["output"]: r for r in _rows(out)}
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    capsys.readouterr()
    assert main(args) == 0
    assert "0 made, 2 already done" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")} == stamps
    # A changed input is redone (by its hash, not its name); the other is not.
    Image.fromarray(synthetic_rgb(40, 48, seed=9)).save(tmp_path / "in" / "b.jpg")
    assert main(args) == 0
    assert "1 made, 1 already done" in capsys.readouterr().err
    assert (out / "a_starry-night.png").stat().st_mtime_ns == stamps["a_starry-night.png"]
    second = {r["output"]: r for r in _rows(out)}
    assert second["b_starry-night.png"]["content"]["sha256"] != \
        first["b_starry-night.png"]["content"]["sha256"]
    # Changed options make new work; --force redoes everything.
    assert main([*args, "--strength", "0.5"]) == 0
    assert "2 made" in capsys.readouterr().err
    assert main([*args, "--strength", "0.5", "--force"]) == 0
    assert "2 made, 0 already done" in capsys.readouterr().err
    rows = _rows(out)
    assert len({r["key"] for r in rows}) == len(rows)  # one line per item, none twice


def test_corrupt_picture_in_the_middle_fails_alone(tmp_path: Path, capsys) -> None:
    _pictures(tmp_path / "in", ["a.jpg", "c.jpg"])
    (tmp_path / "in" / "b.jpg").write_bytes(b"not a picture at all")
    out = tmp_path / "out"
    rc = main(["batch", str(tmp_path / "in"), "-o", str(out), "--style", "starry-night",
               *ADAIN])
    assert rc == 1
    err = capsys.readouterr().err
    assert "2 made" in err and "1 failed" in err and "failed: b.jpg" in err
    assert "Traceback" not in err
    rows = {r["origin"]: r for r in _rows(out)}
    assert rows["b.jpg"]["status"] == "failed" and "b.jpg" in rows["b.jpg"]["error"]
    assert rows["a.jpg"]["status"] == rows["c.jpg"]["status"] == "done"
    assert sorted(p.name for p in out.glob("*.png")) == ["a_starry-night.png",
                                                          "c_starry-night.png"]
    # Fixed, and only it is redone.
    Image.fromarray(synthetic_rgb(40, 48, seed=5)).save(tmp_path / "in" / "b.jpg", "JPEG")
    assert main(["batch", str(tmp_path / "in"), "-o", str(out), "--style", "starry-night",
                 *ADAIN]) == 0
    assert "1 made, 2 already done, 0 failed" in capsys.readouterr().err


def test_names_never_collide(tmp_path: Path) -> None:
    _pictures(tmp_path / "in", ["a.jpg", "a.png"])
    one = _pictures(tmp_path / "s1", ["wave.png"], size=(40, 40))[0]
    two = _pictures(tmp_path / "s2", ["wave.png"], size=(32, 40))[0]
    out = tmp_path / "out"
    assert main(["batch", str(tmp_path / "in"), "-o", str(out), "--style", str(one),
                 "--style", str(two), *ADAIN]) == 0
    names = sorted(r["output"] for r in _rows(out))
    assert len(names) == len(set(names)) == 4
    assert all(n.startswith(("a_jpg_wave", "a_png_wave")) for n in names)
    assert sorted(p.name for p in out.glob("*.png")) == names


def test_manifest_csv_and_jsonl(tmp_path: Path) -> None:
    photos = _pictures(tmp_path / "work" / "photos", ["p.jpg", "q.jpg"])
    style = _pictures(tmp_path / "work", ["s.png"], size=(40, 40))[0]
    csv = tmp_path / "work" / "jobs.csv"
    csv.write_text("content,style,strength,output,method\n"
                   "photos/p.jpg,s.png,0.3,weak.png,\n"
                   "photos/q.jpg,starry-night,,,wct\n"
                   "photos/missing.jpg,s.png,,,\n")
    out = tmp_path / "out"
    assert main(["batch", str(csv), "-o", str(out), *ADAIN]) == 1  # the missing photo
    rows = {r["output"]: r for r in _rows(out)}
    assert rows["weak.png"]["options"]["strength"] == 0.3
    assert rows["weak.png"]["content"]["path"] == str(photos[0])
    assert rows["q_starry-night.png"]["method"] == "wct"
    assert rows["q_starry-night.png"]["options"]["strength"] == 1.0  # the default
    failed = [r for r in rows.values() if r["status"] == "failed"]
    assert len(failed) == 1 and "not found" in failed[0]["error"]
    # The same rows as JSON Lines, a blend of two styles in one row.
    jsonl = tmp_path / "work" / "jobs.jsonl"
    jsonl.write_text(json.dumps({"content": "photos/p.jpg", "styles": ["s.png",
                                                                       "starry-night"],
                                 "style_blend": [0.7, 0.3], "output": "blend.png"}) + "\n")
    out2 = tmp_path / "out2"
    assert main(["batch", str(jsonl), "-o", str(out2), "--style", str(style), *ADAIN]) == 0
    (row,) = _rows(out2)
    assert row["options"]["style_blend"] == [0.7, 0.3] and len(row["styles"]) == 2
    # The blend differs from either style alone (the options took effect).
    alone = Image.open(out / "weak.png")
    assert Image.open(out2 / "blend.png").tobytes() != alone.tobytes()


@pytest.mark.parametrize(("manifest", "expected"), [
    ("content,style,strenght\nx.jpg,s.png,1\n", "did you mean strength"),
    ("style\ns.png\n", "no content column"),
    ('{"content": "x.jpg"\n', "is not JSON"),
    ("content,style,strength\nx.jpg,s.png,abc\n", "m.csv line 2: strength must be a number"),
])
def test_bad_manifests_are_usage_errors(tmp_path: Path, capsys, manifest: str,
                                        expected: str) -> None:
    path = tmp_path / ("m.jsonl" if manifest.startswith("{") else "m.csv")
    path.write_text(manifest)
    assert main(["batch", str(path), "-o", str(tmp_path / "out"), *ADAIN]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_bad_output_and_inputs_refused_before_work(tmp_path: Path, capsys) -> None:
    _pictures(tmp_path / "in", ["a.png"])
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["batch", str(tmp_path / "in"), "-o", str(blocker / "out"),
                 "--style", "starry-night", *ADAIN]) == 2
    assert "cannot create output folder" in capsys.readouterr().err
    # An output that would be an input (here a hard link to one) is refused, and kept.
    inputs = tmp_path / "in"
    os.link(inputs / "a.png", inputs / "a_starry-night.png")
    before = (inputs / "a.png").read_bytes()
    assert main(["batch", str(inputs), "-o", str(inputs), "--style", "starry-night",
                 *ADAIN]) == 2
    assert "is an input of this batch" in capsys.readouterr().err
    assert (inputs / "a.png").read_bytes() == before
    # Options every item fails on are one usage error, not a batch of failures.
    assert main(["batch", str(inputs), "-o", str(tmp_path / "o2"), "--style",
                 "starry-night", "--method", "adain", "--iterations", "3"]) == 2
    assert "every item fails before any work" in capsys.readouterr().err


def test_killed_run_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    """SIGKILL in the middle of a batch, then the same command again: every item is there
    once, and none finished before the kill is made again."""
    _pictures(tmp_path / "in", [f"p{i}.png" for i in range(8)], size=(256, 200))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "impasto", "batch", str(tmp_path / "in"), "-o", str(out),
               "--style", "starry-night", "--method", "adain", "--size", "256"]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if results.exists() and len(results.read_text().splitlines()) >= 2:
            break
        if proc.poll() is not None:
            pytest.fail(f"the batch ended before it could be killed: {proc.stderr.read()}")
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = {json.loads(line)["output"]: json.loads(line)
                   for line in results.read_text().splitlines() if line.endswith("}")}
    assert 2 <= len(done_before) < 8
    stamps = {name: (out / name).stat().st_mtime_ns for name in done_before}
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(done_before)} already done" in rerun.stderr
    rows = _rows(out)
    assert sorted(r["output"] for r in rows) == sorted(f"p{i}_starry-night.png"
                                                       for i in range(8))
    assert all(r["status"] == "done" for r in rows)
    assert {n: (out / n).stat().st_mtime_ns for n in done_before} == stamps
    assert not list(out.glob(".*.part"))  # nothing half-written left behind
    for row in rows:  # every output whole: the hash the ledger recorded
        from impasto.batch.ledger import file_sha256

        assert file_sha256(out / row["output"]) == row["output_sha256"]


def test_ctrl_c_says_how_far_and_exits_130(tmp_path: Path) -> None:
    _pictures(tmp_path / "in", [f"p{i}.png" for i in range(8)], size=(256, 200))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "impasto", "batch", str(tmp_path / "in"),
                             "-o", str(out), "--style", "starry-night", "--method", "adain",
                             "--size", "256"], stderr=subprocess.PIPE, text=True)
    results = out / "results.jsonl"
    started = time.monotonic()
    while time.monotonic() < started + 120 and proc.poll() is None:
        if results.exists() and results.read_text().count("\n") >= 1:
            break
        time.sleep(0.02)
    waited = f"SIGINT after {time.monotonic() - started:.1f} s, exit code then {proc.poll()}"
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130, err
    assert "batch interrupted after" in err and "run the same command again" in err
    assert "Traceback" not in err
    rows = _rows(out)
    assert 1 <= len(rows) < 8 and all(r["status"] == "done" for r in rows), (waited, err)
    assert sorted(p.name for p in out.glob("*.png")) == sorted(r["output"] for r in rows)


def test_animated_content_is_named_not_silent(tmp_path: Path, capsys) -> None:
    frames = [Image.fromarray(synthetic_rgb(40, 48, seed=s)) for s in range(3)]
    frames[0].save(tmp_path / "clip.gif", save_all=True, append_images=frames[1:])
    manifest = tmp_path / "m.csv"
    manifest.write_text("content,style\nclip.gif,starry-night\n")
    assert main(["batch", str(manifest), "-o", str(tmp_path / "out"), *ADAIN]) == 0
    (row,) = _rows(tmp_path / "out")
    assert row["content"]["frames"] == 3
    err = capsys.readouterr().err
    assert "1 animated pictures were painted from their first frame" in err
    assert "Warning" not in err


def test_stacked_network_passes_match_one_at_a_time(tmp_path: Path, monkeypatch) -> None:
    """--stack puts a trained network's same-size pictures into one pass (a GPU's way): the
    pictures and rows are those of one at a time, a corrupt picture among them fails alone."""
    import torch

    from impasto.models import architecture, save_model
    from impasto.pipeline import Pipeline

    passes: list[int] = []
    stack_of = Pipeline.render_stack

    def counted(self, requests):
        passes.append(len(requests))
        return stack_of(self, requests)

    monkeypatch.setattr(Pipeline, "render_stack", counted)

    torch.manual_seed(0)
    model = save_model(tmp_path / "net", architecture("fast").build().eval(), "fast", {},
                       {"name": "test"})
    _pictures(tmp_path / "in", ["a.png", "b.png", "c.png", "e.png"])
    _pictures(tmp_path / "in", ["d.png"], size=(40, 48))  # another shape: its own pass
    (tmp_path / "in" / "bad.png").write_bytes(b"\x89PNG broken")
    rows = {}
    for stack in (1, 4):
        out = tmp_path / f"out{stack}"
        assert main(["batch", str(tmp_path / "in"), "-o", str(out), "--model", str(model),
                     "--size", "48", "--no-provenance", "--stack", str(stack)]) == 1
        rows[stack] = {r["output"]: {k: v for k, v in r.items() if k != "seconds"}
                       for r in _rows(out)}
    assert rows[1] == rows[4]
    assert passes == [3]  # a, b, c in one pass (bad.png failed alone; d.png's shape and
    # e.png, in the next group, each on their own)
    made = sorted(p.name for p in (tmp_path / "out1").glob("*.png"))
    assert len(made) == 5 and rows[4]["bad_net.png"]["status"] == "failed"
    for name in made:
        assert (tmp_path / "out1" / name).read_bytes() == (tmp_path / "out4" / name).read_bytes()
