"""The built-in styles: every record complete and every picture intact; each style by name in
the CLI and the API, with every method; the sheet; the prepared statistics (used on the second
call, remade when the style or the code changes, a damaged entry never trusted)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import impasto
from impasto.image.save import read_metadata
from impasto.pipeline import Pipeline, Request
from impasto.pipeline import engines as engines_module
from impasto.runtime import cache as cache_module
from impasto.styles import library
from impasto.styles.library import BuiltinStyle, builtin_styles, get_style, resolve_style
from tests.conftest import synthetic_rgb
from tests.test_cli import assert_one_line_error, run

STYLES = builtin_styles()
NAMES = [s.name for s in STYLES]
PICTURES = Path(library.__file__).parent / "pictures"


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("IMPASTO_CACHE", str(folder))
    return folder / "styles"


# ------------------------------------------------------------------------------ the library


def test_at_least_24_styles_within_the_size_budget() -> None:
    assert len(STYLES) >= 24
    assert len(set(NAMES)) == len(NAMES)
    files = sorted(PICTURES.glob("*.jpg"))
    assert sorted(p.name for p in files) == sorted(s.file for s in STYLES)  # nothing stray
    assert sum(p.stat().st_size for p in files) <= 8_000_000


@pytest.mark.parametrize("style", STYLES, ids=NAMES)
def test_each_style_loads_with_a_complete_record(style: BuiltinStyle) -> None:
    data = style.path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == style.sha256
    with Image.open(style.path) as picture:
        assert picture.mode == "RGB"
        assert picture.size == style.size
        assert max(picture.size) <= 1024
    record = style.record()
    for key in library.REQUIRED:
        assert record[key] not in (None, "", []), key
    assert style.licence == "public domain"
    assert len(style.licence_reason) > 10
    assert 0.05 <= style.style_scale <= 8
    assert style.name == library.normalise(style.name)


def test_held_out_styles_are_not_in_the_library() -> None:
    held = {h["file"] for h in library.library()["held_out"]}
    assert held  # the benchmarks keep unseen styles
    shared = {s.extra.get("shared_file", "").rsplit("/", 1)[-1] for s in STYLES}
    assert not held & shared


def test_names_resolve_loosely_and_paths_win(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_style("Starry_Night") is get_style("starry-night")
    assert resolve_style("starry night").name == "starry-night"
    # A file that exists wins over a name, even without an extension.
    monkeypatch.chdir(tmp_path)
    Image.fromarray(synthetic_rgb(16, 16)).save(tmp_path / "starry-night", format="PNG")
    assert resolve_style("starry-night") == "starry-night"
    # A missing file with a picture's extension stays a path (the reader says it is missing).
    assert resolve_style("the-scream.jpg") == "the-scream.jpg"
    with pytest.raises(impasto.InvalidOption, match="closest: the-scream"):
        resolve_style("the-screem")


# ------------------------------------------------------------------------ by name, every method


def test_every_style_renders_with_adain_and_optimize(own_cache: Path) -> None:
    pipeline = Pipeline("cpu")
    content = synthetic_rgb(24, 32)
    for style in STYLES:
        for method, options in (("adain", {"size": 32}),
                                ("optimize", {"size": 32, "iterations": 2, "scales": 1,
                                              "seed": 0})):
            result = pipeline.render(Request(content, style.name, method=method,
                                             options=options))
            arr = np.asarray(result.image)
            assert arr.shape[:2] == (24, 32) and np.isfinite(arr).all()
            (styled,) = result.record["styles"]
            assert styled["builtin"]["name"] == style.name
            assert styled["builtin"]["licence"] == "public domain"
            assert styled["sha256"] == style.sha256


def test_wct_and_the_api_by_name(own_cache: Path) -> None:
    content = synthetic_rgb(24, 32)
    picture = impasto.stylize(content, "great-wave", method="wct", size=32)
    record = json.loads(picture.info["impasto"])
    assert record["method"] == "wct"
    assert record["styles"][0]["builtin"]["title"] == get_style("great-wave").title
    blended = impasto.stylize(content, ["the-kiss", "the-scream"], method="adain", size=32,
                              style_blend=(0.5, 0.5))
    assert blended.size == (32, 24)


def test_the_style_scale_of_a_builtin_style_is_its_own(own_cache: Path) -> None:
    scaled = next(s for s in STYLES if s.style_scale != 1.0)
    result = Pipeline("cpu").render(Request(synthetic_rgb(24, 32), scaled.name, options={
        "size": 32, "iterations": 1, "scales": 1, "seed": 0}))
    assert result.record["options"]["style_scale"] == scaled.style_scale
    given = Pipeline("cpu").render(Request(synthetic_rgb(24, 32), scaled.name, options={
        "size": 32, "iterations": 1, "scales": 1, "seed": 0, "style_scale": 1.0}))
    assert given.record["options"]["style_scale"] == 1.0


def test_cli_by_name(tmp_path: Path, content_png: Path, own_cache: Path,
                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.png"
    code, _, err = run(capsys, "stylize", content_png, "starry-night", "-o", out,
                       "--method", "adain", "--size", "32")
    assert code == 0, err
    record = json.loads(read_metadata(out)["impasto"])
    assert record["styles"][0]["builtin"]["artist"] == "Vincent van Gogh"


def test_cli_unknown_name_lists_the_closest(tmp_path: Path, content_png: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.png"
    code, _, err = run(capsys, "stylize", content_png, "starry-nite", "-o", out,
                       "--method", "adain")
    assert_one_line_error(code, err, "starry-nite", "closest: starry-night", "impasto styles")
    assert not out.exists()


WITH_NETWORK = [s for s in STYLES if s.network]


def test_at_least_8_styles_ship_a_network_of_their_own_within_the_budget() -> None:
    """Each network a style names ships, was trained on that style's own picture (the SHA-256
    its card records), is stored as float16 and has a full card; the package's models stay
    small."""
    from safetensors import safe_open

    from impasto.models.folder import shipped_models

    shipped = shipped_models()
    assert len(WITH_NETWORK) >= 8
    for style in WITH_NETWORK:
        folder = shipped[style.network]
        config = json.loads((folder / "config.json").read_text())
        assert config["style"]["sha256"] == style.sha256, style.name
        assert config["style"]["builtin"] == style.name
        assert config["arch"] == "fast"
        assert set(config["card"]) >= {"summary", "training_pictures", "training_set",
                                       "selection", "limits"}
        assert config["training"]["training_set"]["folders"] == ["coco-clean", "open_photos"]
        assert config["scores"]["network"]["style_distance"] > 0
        with safe_open(str(folder / "model.safetensors"), "pt") as fh:
            names = fh.keys()  # safe_open is not iterable
            assert {fh.get_tensor(k).dtype for k in names} == {torch.float16}
    total = sum(p.stat().st_size for f in shipped.values() for p in f.iterdir())
    assert total <= 12_000_000


def test_a_style_is_found_by_its_pictures_sha256() -> None:
    from impasto.styles.library import style_with_sha256

    for style in STYLES:
        assert style_with_sha256(style.sha256) is style
    assert style_with_sha256("0" * 64) is None and style_with_sha256(None) is None


def test_network_by_builtin_name(tmp_path: Path, content_png: Path, own_cache: Path,
                                 monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.png"
    without = next(s.name for s in STYLES if not s.network)
    code, _, err = run(capsys, "stylize", content_png, without, "-o", out,
                       "--method", "network")
    assert_one_line_error(code, err, f"{without} has no trained network yet", "--method adain")
    assert not out.exists()
    # A shipped network, by its style's name: the picture is that network's, and it differs
    # from another style's network on the same photo.
    pictures = {}
    for style in WITH_NETWORK[:2]:
        code, _, err = run(capsys, "stylize", content_png, style.name, "-o", out,
                           "--method", "network", "--backend", "torch")
        assert code == 0, err
        record = json.loads(read_metadata(out)["impasto"])
        assert record["method"] == "network" and record["model"]["name"] == style.network
        pictures[style.name] = np.asarray(Image.open(out).convert("RGB"), dtype=np.float32)
    first, second = pictures.values()
    assert np.abs(first - second).mean() > 10
    # A record that names a network folder uses it.
    from impasto.models import architecture, save_model

    torch.manual_seed(0)
    folder = save_model(tmp_path / "kiss-net", architecture("fast").build().eval(), "fast", {},
                        {"name": "kiss-net"})
    named = BuiltinStyle(**{**get_style(without).__dict__, "network": str(folder)})
    monkeypatch.setattr(library, "get_style", lambda name: named)
    code, _, err = run(capsys, "stylize", content_png, without, "-o", out,
                       "--method", "network", "--backend", "torch")
    assert code == 0, err
    record = json.loads(read_metadata(out)["impasto"])
    assert record["method"] == "network" and record["model"]["name"] == "kiss-net"


def test_float16_weights_paint_what_their_float32_weights_paint(tmp_path: Path) -> None:
    """A network saved as float16 (as the shipped ones are) loads into float32 and paints
    within half a level in 255 of its float32 weights, on average."""
    from safetensors import safe_open

    from impasto.models import load_model, save_model

    model = load_model(WITH_NETWORK[0].network)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # weights off the float16 grid, as a trainer's are
        for param in model.net.parameters():
            param.mul_(1 + 1e-3 * torch.randn(param.shape, generator=generator))
    half = load_model(save_model(tmp_path / "f16", model.net, model.arch, model.params,
                                 {"name": "f16"}, dtype=torch.float16))
    with safe_open(str(tmp_path / "f16" / "model.safetensors"), "pt") as fh:
        names = fh.keys()  # safe_open is not iterable
        assert {fh.get_tensor(k).dtype for k in names} == {torch.float16}
    assert {p.dtype for p in half.net.parameters()} == {torch.float32}
    x = torch.rand(1, 3, 96, 128, generator=generator)
    with torch.no_grad():
        diff = (half.net(x) - model.net(x)).abs()
    assert diff.max() > 0  # the weights were rounded
    assert diff.mean() * 255 < 0.5


def test_styles_command_lists_and_sheets(tmp_path: Path, own_cache: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "styles", "--json")
    assert code == 0, err
    listed = json.loads(out)["styles"]
    assert [s["name"] for s in listed] == NAMES
    assert all(s["licence"] == "public domain" for s in listed)
    sheet = tmp_path / "sheet.png"
    photo = tmp_path / "photo.png"
    Image.fromarray(synthetic_rgb(30, 40)).save(photo)
    code, _, err = run(capsys, "styles", "--sheet", sheet, "--photo", photo, "--size", "32",
                       "--device", "cpu")
    assert code == 0, err
    with Image.open(sheet) as picture:
        width, height = picture.size
    # The photo and every style, six to a row, each 32 px wide.
    rows = (len(STYLES) + 1 + 5) // 6
    assert width > 6 * 32 and height > rows * 24
    code, _, err = run(capsys, "styles", "--sheet", tmp_path / "s.bmp")
    assert_one_line_error(code, err, "s.bmp")
    # A sheet of the trained networks: the photo and each style that has one, nothing else.
    code, _, err = run(capsys, "styles", "--sheet", sheet, "--photo", photo, "--size", "32",
                       "--device", "cpu", "--method", "network")
    assert code == 0, err
    with Image.open(sheet) as picture:
        # Fewer rows than the sheet of every style: two rows a row shorter at least.
        assert picture.size[1] * (rows - 1) <= height * ((len(WITH_NETWORK) + 1 + 5) // 6)
    without = next(s.name for s in STYLES if not s.network)
    from impasto.api import style_sheet

    with pytest.raises(impasto.InvalidOption, match=f"{without} has no trained network"):
        style_sheet(photo, [WITH_NETWORK[0].name, without], size=32, method="network")


# ------------------------------------------------------------------------ prepared statistics


def _count_encodings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    from impasto.arbitrary.core import ArbitraryStylizer

    calls: list[int] = []
    original = ArbitraryStylizer.style_stats

    def counted(self: ArbitraryStylizer, style: torch.Tensor):  # type: ignore[no-untyped-def]
        calls.append(1)
        return original(self, style)

    monkeypatch.setattr(ArbitraryStylizer, "style_stats", counted)
    return calls


def test_prepared_statistics_are_used_and_remade(own_cache: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_encodings(monkeypatch)
    content = synthetic_rgb(24, 32)
    request = Request(content, "the-scream", method="adain", options={"size": 32})
    first = Pipeline("cpu").render(request)
    assert len(calls) == 1
    entries = sorted(own_cache.glob("*.pt"))
    assert len(entries) == 1
    second = Pipeline("cpu").render(request)  # a new pipeline: as a new process would be
    assert len(calls) == 1  # read from the cache, not encoded
    assert np.array_equal(np.asarray(first.image), np.asarray(second.image))
    # Another style: its own entry.
    Pipeline("cpu").render(request.replace(styles=("the-kiss",)))
    assert len(calls) == 2 and len(list(own_cache.glob("*.pt"))) == 2
    # A damaged entry is not trusted: removed, encoded again, written again.
    entries[0].write_bytes(entries[0].read_bytes()[:-7] + b"garbage")
    third = Pipeline("cpu").render(request)
    assert len(calls) == 3
    assert np.array_equal(np.asarray(first.image), np.asarray(third.image))
    Pipeline("cpu").render(request)
    assert len(calls) == 3  # the rewritten entry is good
    # Other code: another key, so the entry is made again.
    engines_module._stats_code.cache_clear()
    monkeypatch.setattr(engines_module, "code_hash", lambda *modules: "other code")
    Pipeline("cpu").render(request)
    assert len(calls) == 4
    engines_module._stats_code.cache_clear()


def test_a_style_file_is_not_prepared(own_cache: Path, style_png: Path) -> None:
    Pipeline("cpu").render(Request(synthetic_rgb(24, 32), style_png, method="adain",
                                   options={"size": 32}))
    assert not list(own_cache.glob("*.pt"))


def test_prepared_targets_give_the_same_picture(own_cache: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[bool] = []
    original = cache_module.load_tensors

    def spied(kind: str, key: str):  # type: ignore[no-untyped-def]
        found = original(kind, key)
        loads.append(found is not None)
        return found

    monkeypatch.setattr("impasto.optim.prepared.load_tensors", spied)
    request = Request(synthetic_rgb(48, 64), "grande-jatte", options={
        "size": 96, "iterations": 4, "scales": 2, "seed": 3, "init": "content",
        "precision": "fp32"})
    first = Pipeline("cpu").render(request)
    assert loads == [False, False]  # two scales, nothing prepared yet
    assert len(list(own_cache.glob("*.pt"))) == 2
    second = Pipeline("cpu").render(request)
    assert loads[2:] == [True, True]
    assert np.array_equal(np.asarray(first.image), np.asarray(second.image))
    # With colour preservation the styles are remade from the photo: nothing is prepared.
    Pipeline("cpu").render(request.replace(options=request.options.replace(
        preserve_color="histogram")))
    assert len(loads) == 4


def test_the_styles_page_lists_every_style_and_the_held_out_ones() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "styles.md").read_text()
    for style in STYLES:
        assert f"| `{style.name}` |" in page, style.name
        row = next(line for line in page.splitlines() if line.startswith(f"| `{style.name}` |"))
        assert (f"| `{style.network}` |" in row) == bool(style.network), style.name
    for held in library.library()["held_out"]:
        assert f"`{held['file']}`" in page
