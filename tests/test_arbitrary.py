"""Arbitrary-style transfer: the AdaIN and WCT transforms, the stylizer (styles, weights,
masks, strength, patches), decoder training, the CLI and the ONNX export of the AdaIN path."""

from __future__ import annotations

import io
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from impasto.api import ArbitraryPictures
from impasto.arbitrary import ArbitraryStylizer
from impasto.arbitrary import transforms as T
from impasto.arbitrary.core import WCT_LAYERS, _ramp, _starts
from impasto.config import DecoderConfig, EncoderConfig
from impasto.errors import Cancelled, InvalidOption
from impasto.events import CancelToken
from impasto.image.save import read_metadata
from impasto.models import architecture, load_model, save_model
from impasto.training.decoder import train_decoder
from impasto.training.encoder import train_encoder
from tests.conftest import synthetic_rgb
from tests.test_cli import assert_one_line_error, run


@pytest.fixture(scope="module")
def decoders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Untrained decoders for every layer (the transforms and the plumbing do not need
    trained ones)."""
    root = tmp_path_factory.mktemp("decoders")
    torch.manual_seed(0)
    return {layer: save_model(root / layer, architecture("decoder").build(layer=layer, width=8),
                              "decoder", {"layer": layer, "width": 8}, {"name": f"t-{layer}"})
            for layer in WCT_LAYERS}


def _features(seed: int, c: int = 8, h: int = 12, w: int = 10) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(c, c, generator=g)
    return (mix @ torch.randn(1, c, h * w, generator=g)).reshape(1, c, h, w) + 3.0


# ------------------------------------------------------------------------------ transforms


def test_adain_gives_the_style_mean_and_deviation() -> None:
    content, style = _features(0), _features(1) * 2.5
    out = T.adain(content, T.mean_std(style))
    got, want = T.mean_std(out), T.mean_std(style)
    assert torch.allclose(got.mean, want.mean, atol=1e-4)
    assert torch.allclose(got.std, want.std, atol=1e-3)


def test_wct_gives_the_style_covariance_and_mean() -> None:
    content, style = _features(2, h=30, w=30), _features(3, h=20, w=25)
    out = T.wct(content, T.mean_cov(style))
    got, want = T.mean_cov(out), T.mean_cov(style)
    assert torch.allclose(got.mean, want.mean, atol=1e-3)
    assert torch.allclose(got.cov, want.cov, rtol=1e-3, atol=1e-3 * float(want.cov.abs().max()))


@pytest.mark.parametrize("shape", [(1, 16, 1, 1), (1, 16, 2, 1), (1, 16, 7, 5)])
def test_transforms_survive_flat_and_tiny_features(shape: tuple[int, ...]) -> None:
    flat = torch.full(shape, 0.7)
    style = _features(4, c=16)
    for out in (T.adain(flat, T.mean_std(style)), T.wct(flat, T.mean_cov(style)),
                T.wct(style, T.mean_cov(flat)), T.adain(style, T.mean_std(flat))):
        assert bool(torch.isfinite(out).all())
    # A flat style colours everything with its mean.
    assert torch.allclose(T.wct(style, T.mean_cov(flat)), torch.full_like(style, 0.7),
                          atol=1e-3)


def test_weighted_statistics_cover_only_their_region() -> None:
    f = torch.zeros(1, 2, 4, 4)
    f[..., :, 2:] = 5.0
    right = torch.zeros(1, 1, 4, 4)
    right[..., :, 2:] = 1.0
    stats = T.mean_std(f, right)
    assert torch.allclose(stats.mean, torch.full((1, 2, 1, 1), 5.0))
    assert float(stats.std.max()) < 0.01


# ------------------------------------------------------------------------------ the stylizer


def test_patches_start_and_blend() -> None:
    assert _starts(500, 1024) == [0]
    starts = _starts(3000, 1024)
    assert starts[0] == 0 and starts[-1] == 3000 - 1024
    assert all(b - a <= 1024 - 128 for a, b in itertools.pairwise(starts))
    ramp = _ramp(300, 300, True, False, False, True)
    assert float(ramp[0, 0, 0, 0]) < 0.01 and float(ramp[0, 0, -1, 0]) == 1.0


@pytest.mark.parametrize("method", ["adain", "wct"])
def test_stylizer_shapes_strength_and_weights(method: str, decoders: dict[str, Path]) -> None:
    layers = ["relu4_1"] if method == "adain" else list(WCT_LAYERS)
    s = ArbitraryStylizer(method, decoders=[decoders[n] for n in layers])
    style_a = s.style_stats(torch.rand(1, 3, 40, 56))
    style_b = s.style_stats(torch.rand(1, 3, 40, 40) * 0.3)
    for hw in [(37, 53), (5, 3), (64, 64)]:
        x = torch.rand(1, 3, *hw)
        y = s.stylize_tensor(x, [style_a])
        assert y.shape == x.shape and bool(torch.isfinite(y).all())
    x = torch.rand(1, 3, 48, 40)
    only_a = s.stylize_tensor(x, [style_a])
    assert torch.allclose(s.stylize_tensor(x, [style_a, style_b], weights=[1.0, 0.0]), only_a,
                          atol=1e-5)
    # (what a blend does to the picture needs trained decoders:
    # test_shipped_style_blends_follow_their_weights)
    # strength 0 decodes the content's own features, whatever the style
    assert torch.allclose(s.stylize_tensor(x, [style_a], strength=0.0),
                          s.stylize_tensor(x, [style_b], strength=0.0), atol=1e-5)
    with pytest.raises(InvalidOption, match="strength"):
        s.stylize_tensor(x, [style_a], strength=1.5)
    with pytest.raises(InvalidOption, match="weights"):
        s.stylize_tensor(x, [style_a], weights=[1.0, 2.0])


def test_region_masks_restrict_each_style(decoders: dict[str, Path]) -> None:
    s = ArbitraryStylizer("adain", decoders=[decoders["relu4_1"]])
    a, b = s.style_stats(torch.rand(1, 3, 48, 48)), s.style_stats(torch.rand(1, 3, 48, 48) * 0.2)
    x = torch.rand(1, 3, 64, 64)
    left = torch.zeros(1, 1, 64, 64)
    left[..., :32] = 1.0
    y = s.stylize_tensor(x, [a, b], regions=[(left, 0), (1.0 - left, 1)])
    only_a, only_b = s.stylize_tensor(x, [a]), s.stylize_tensor(x, [b])
    # away from the border between the regions, each side looks like its own style
    assert float((y[..., :16] - only_a[..., :16]).abs().mean()) < float(
        (y[..., :16] - only_b[..., :16]).abs().mean())
    assert float((y[..., 48:] - only_b[..., 48:]).abs().mean()) < float(
        (y[..., 48:] - only_a[..., 48:]).abs().mean())


def test_patches_cover_the_picture_and_blend_exactly(decoders: dict[str, Path],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """With a per-pixel stand-in for the cascade, patching must give back exactly the whole
    picture's result: every pixel covered, the blending weights normalised."""
    s = ArbitraryStylizer("adain", decoders=[decoders["relu4_1"]], patch=256)
    seen: list[tuple[int, int, bool]] = []

    def cascade(self, x, styles, weights, regions, strength, fixed=None, record=None):
        seen.append((x.shape[-2], x.shape[-1], fixed is not None))
        if record is not None:
            record["relu4_1"] = ["thumbnail"]
        return x ** 2 + 0.1

    monkeypatch.setattr(ArbitraryStylizer, "_cascade", cascade)
    x = torch.rand(1, 3, 300, 700)
    y = s.stylize_tensor(x, [None])  # type: ignore[list-item]
    assert torch.allclose(y, x ** 2 + 0.1, atol=1e-6)
    # the thumbnail first (long side = the patch size), then patches with its statistics
    assert seen[0] == (110, 256, False)
    assert all(h <= 256 and w <= 256 and fixed for h, w, fixed in seen[1:])
    assert len(seen) - 1 == len(_starts(300, 256)) * len(_starts(700, 256))


def test_missing_decoders_and_bad_options_are_refused(decoders: dict[str, Path],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from impasto.arbitrary import core

    with pytest.raises(InvalidOption, match="method"):
        ArbitraryStylizer("magic")
    monkeypatch.setattr(core, "default_decoders",
                        lambda method: {n: f"no-such-decoder-{n}" for n in WCT_LAYERS})
    with pytest.raises(InvalidOption, match="needs a decoder for relu5_1"):
        ArbitraryStylizer("wct", decoders=[decoders["relu4_1"]])
    with pytest.raises(InvalidOption, match="no use"):
        ArbitraryStylizer("adain", decoders=[decoders["relu4_1"], decoders["relu2_1"]])
    with pytest.raises(InvalidOption, match="patch"):
        ArbitraryStylizer("adain", decoders=[decoders["relu4_1"]], patch=10)


# ------------------------------------------------------------------------------ training


@pytest.fixture
def pictures(tmp_path: Path) -> Path:
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(synthetic_rgb(48, 40, seed=i)).save(folder / f"{i}.png")
    return folder


TINY = DecoderConfig(layer="relu2_1", width=4, steps=4, size=32, batch=2, holdout=1,
                     checkpoint_every=2, preview_every=2, precision="fp32")


@pytest.mark.parametrize("with_styles", [False, True])
def test_decoder_training_resumes_exactly(tmp_path: Path, pictures: Path,
                                          with_styles: bool) -> None:
    cfg = TINY.replace(layer="relu4_1") if with_styles else TINY
    styles = pictures if with_styles else None
    straight = train_decoder(pictures, tmp_path / "straight", cfg, styles=styles)
    token = CancelToken()

    def stop_after_3(event: object) -> None:
        if getattr(event, "step", 0) == 3:
            token.cancel()

    with pytest.raises(Cancelled, match="--resume"):
        train_decoder(pictures, tmp_path / "resumed", cfg, styles=styles,
                      callback=stop_after_3, cancel=token)
    with pytest.raises(InvalidOption, match="other width"):
        train_decoder(pictures, tmp_path / "resumed", cfg.replace(width=8), styles=styles,
                      resume=True)
    resumed = train_decoder(pictures, tmp_path / "resumed", cfg, styles=styles, resume=True)
    a = load_file(str(straight.folder / "model.safetensors"))
    b = load_file(str(resumed.folder / "model.safetensors"))
    for key in a:
        assert torch.equal(a[key], b[key]), key
    model = load_model(straight.folder)
    assert model.kind == "decoder" and model.params == {"layer": cfg.layer, "width": 4}
    assert model.config["training"]["mode"] == ("adain" if with_styles else "inversion")
    assert (straight.folder / "previews" / "step_0000004.jpg").is_file()
    assert math.isfinite(sum(straight.losses.values()))


def test_decoder_training_lowers_the_reconstruction_loss(tmp_path: Path,
                                                         pictures: Path) -> None:
    cfg = TINY.replace(layer="relu1_1", steps=80, width=8, learning_rate=3e-3,
                       preview_every=0, checkpoint_every=80)
    losses: list[float] = []
    train_decoder(pictures, tmp_path / "d", cfg, callback=lambda e: losses.append(e.loss))
    assert sum(losses[-5:]) < 0.6 * sum(losses[:5]), (losses[:5], losses[-5:])


def test_bad_decoder_options_are_refused() -> None:
    with pytest.raises(InvalidOption, match="layer"):
        DecoderConfig(layer="relu3_2")  # type: ignore[arg-type]
    with pytest.raises(InvalidOption, match="width"):
        DecoderConfig(width=2)
    with pytest.raises(InvalidOption, match="style-weight"):
        DecoderConfig(style_weight=float("nan"))


# ------------------------------------------------------------------------------ CLI and API


def test_stylize_method_adain_and_wct(tmp_path: Path, content_png: Path, style_png: Path,
                                      decoders: dict[str, Path],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "a.png"
    code, stdout, err = run(capsys, "stylize", content_png, style_png, style_png, "-o", out,
                            "--method", "adain", "--decoder", decoders["relu4_1"], "--json",
                            "--strength", "0.8", "--style-blend", "1,2",
                            "--preserve-color", "luminance")
    assert code == 0, err
    assert json.loads(stdout)["output"] == str(out)
    with Image.open(out) as im:
        assert im.size == (64, 48)  # the content's own size
    record = json.loads(read_metadata(out)["impasto"])
    assert record["method"] == "adain" and record["title"].startswith("AdaIN")
    assert len(record["styles"]) == 2
    assert record["options"]["strength"] == 0.8 and record["decoders"]["relu4_1"]["sha256"]
    wct_args = [a for n in WCT_LAYERS for a in ("--decoder", decoders[n])]
    code, _, err = run(capsys, "stylize", content_png, style_png, "-o", tmp_path / "w.png",
                       "--method", "wct", "--size", "40", *wct_args)
    assert code == 0, err
    with Image.open(tmp_path / "w.png") as im:
        assert im.size == (40, 30)
    mask = tmp_path / "mask.png"
    Image.fromarray(np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1))).save(mask)
    code, _, err = run(capsys, "stylize", content_png, style_png, style_png, "-o",
                       tmp_path / "m.png", "--method", "adain", "--decoder",
                       decoders["relu4_1"], "--mask", f"{mask}=2")
    assert code == 0, err
    # a folder in, a folder out
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(synthetic_rgb(30, 20, seed=i)).save(folder / f"{i}.png")
    code, _, err = run(capsys, "stylize", folder, style_png, "-o", tmp_path / "outs",
                            "--method", "adain", "--decoder", decoders["relu4_1"], "--json")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "outs").iterdir()) == ["0.png", "1.png"]


def test_stylize_method_reads_stdin(content_png: Path, style_png: Path,
                                    decoders: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                    capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    from impasto.cli.main import main

    class Stdin:
        buffer = io.BytesIO(content_png.read_bytes())

    monkeypatch.setattr("sys.stdin", Stdin)
    code = main(["stylize", "-", str(style_png), "-o", "-", "--method", "adain", "--decoder",
                 str(decoders["relu4_1"])])
    assert code == 0
    with Image.open(io.BytesIO(capsysbinary.readouterr().out)) as im:
        assert im.size == (64, 48)


def test_stylize_method_bad_input(tmp_path: Path, content_png: Path, style_png: Path,
                                  decoders: dict[str, Path],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.png"
    dec = ["--decoder", str(decoders["relu4_1"])]
    for args, needle in (
        (["--method", "adain", *dec, "--iterations", "5"],
         "iterations does not apply to method adain"),
        (["--method", "adain", *dec, "--style-blend", "1,2"], "style-blend has 2 weights"),
        (["--method", "adain", *dec, "--mask", "missing.png=1"], "mask"),
        (["--method", "adain", "--decoder", str(decoders["relu2_1"])], "no use"),
        (["--method", "adain", *dec, "--model", str(decoders["relu4_1"])], "--model"),
        (["--method", "adain", *dec, "--tileable"], "--tileable"),
        (["--method", "magic"], "magic"),
        (["--decoder", str(decoders["relu4_1"])],
         "decoders does not apply to method optimize"),
    ):
        code, _, err = run(capsys, "stylize", content_png, style_png, "-o", out, *args)
        assert_one_line_error(code, err, needle)
    code, _, err = run(capsys, "stylize", content_png, "-o", out, "--method", "adain", *dec)
    assert_one_line_error(code, err, "needs at least one style picture")
    assert not out.exists()


def test_api_method_adain(content_png: Path, style_png: Path,
                          decoders: dict[str, Path]) -> None:
    import impasto

    image = impasto.stylize(content_png, style_png, method="adain",
                            decoders=[decoders["relu4_1"]], strength=0.5)
    assert image.size == (64, 48) and "impasto" in image.info
    with pytest.raises(InvalidOption, match="iterations"):
        impasto.stylize(content_png, style_png, method="adain",
                        decoders=[decoders["relu4_1"]], iterations=3)
    pictures = ArbitraryPictures("adain", decoders=[decoders["relu4_1"]])
    assert pictures(content_png, [style_png]).image.size == (64, 48)
    assert pictures(content_png, [style_png], strength=0.5).image.size == (64, 48)
    # The style's statistics were computed once for both pictures.
    assert len(pictures.pipeline.arbitrary._stats) == 1


def test_train_decoder_command(tmp_path: Path, pictures: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dec"
    code, _, err = run(capsys, "train-decoder", "--data", pictures, "-o", out, "--layer",
                       "relu1_1", "--steps", "2", "--size", "32", "--batch", "1", "--holdout",
                       "1", "--width", "4", "--device", "cpu")
    assert code == 0, err
    assert load_model(out).params["layer"] == "relu1_1"
    code, _, err = run(capsys, "train-decoder", "--data", pictures, "-o", out, "--holdout", "1")
    assert_one_line_error(code, err, "--resume")
    code, _, err = run(capsys, "train-decoder", "--data", pictures, "-o", tmp_path / "x",
                       "--layer", "relu9_1")
    assert_one_line_error(code, err)


def test_adain_onnx_export_agrees_with_torch(tmp_path: Path, decoders: dict[str, Path],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from impasto.arbitrary.graph import AdaINGraph

    path = tmp_path / "adain.onnx"
    code, _, err = run(capsys, "export", decoders["relu4_1"], "-o", path)
    assert code == 0, err
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    # sizes the export never saw
    content, style, strength = torch.rand(1, 3, 56, 88), torch.rand(1, 3, 70, 50), torch.ones(1)
    (theirs,) = session.run(None, {"content": content.numpy(), "style": style.numpy(),
                                   "strength": strength.numpy()})
    with torch.no_grad():
        ours = AdaINGraph(load_model(decoders["relu4_1"]).net).eval()(content, style, strength)
    assert theirs.shape == tuple(ours.shape)
    assert float(np.abs(theirs - ours.numpy()).max()) < 1e-4
    # The graph is the stylizer's AdaIN path, border margin included.
    stylizer = ArbitraryStylizer("adain", decoders=[decoders["relu4_1"]])
    content = torch.rand(1, 3, 64, 96)
    (graph,) = session.run(None, {"content": content.numpy(), "style": style.numpy(),
                                  "strength": strength.numpy()})
    direct = stylizer.stylize_tensor(content, [stylizer.style_stats(style)])
    assert float(np.abs(np.clip(graph, 0, 1) - direct.numpy()).max()) < 1e-4


# ------------------------------------------------------------------------------ shipped decoders


def _photo(side: int) -> torch.Tensor:
    from skimage import data

    from impasto.image.resize import fit_long_side, resize

    x = torch.from_numpy(data.astronaut()).permute(2, 0, 1)[None].float() / 255.0
    return resize(x, fit_long_side(x.shape[-2], x.shape[-1], side))


def test_every_shipped_decoder_loads_and_says_what_it_is() -> None:
    from impasto.arbitrary.core import METHODS
    from impasto.models import shipped_models
    from impasto.models.store import default_decoders

    shipped = shipped_models()
    # What each method uses by default is data: the decoders' config.json.
    assert set(default_decoders("adain")) == {"relu4_1"}
    assert set(default_decoders("wct")) == {"relu4_1", "relu3_1", "relu2_1", "relu1_1"}
    for method in METHODS:
        for layer, name in default_decoders(method).items():
            assert name in shipped, f"{name} ({method}) does not ship"
            model = load_model(name)
            assert model.kind == "decoder" and model.params["layer"] == layer
            card = model.config["card"]
            assert card["training_pictures"] and card["licence"] and card["limits"]


def test_shipped_decoders_reconstruct_the_content() -> None:
    """At strength 0 a picture goes through encoder and decoder unchanged in substance."""
    from impasto.features import VGG19
    from impasto.models.store import default_decoders

    x = _photo(256)
    flat = float((x - x.mean(dim=(2, 3), keepdim=True)).abs().mean())  # about 0.27
    # Each shipped decoder inverts its own VGG layer: mean absolute error measured on this
    # picture (relu1_1 0.089, relu2_1 0.091, relu3_1 0.076, relu4_1 0.146; a flat grey picture
    # is 0.27 off), bounds 1.25 times that, so a decoder that breaks or is swapped fails.
    measured = {"relu1_1": 0.089, "relu2_1": 0.091, "relu3_1": 0.076, "relu4_1": 0.146}
    decoders = {**default_decoders("wct"), **default_decoders("adain")}
    assert set(decoders) == set(measured)
    for layer, name in decoders.items():
        with torch.inference_mode():
            y = load_model(name).net(VGG19([layer])(x)[layer]).clamp(0.0, 1.0)
        assert float((y - x).abs().mean()) < 1.25 * measured[layer], (layer, name)
    # Whole stylizers at strength 0 (measured: AdaIN 0.144, 0.53 of the flat picture's error;
    # WCT's four-level cascade 0.231, 0.86 of it, each level losing some detail).
    for method, bound in (("adain", 0.6), ("wct", 0.95)):
        s = ArbitraryStylizer(method)
        y = s.stylize_tensor(x, [s.style_stats(torch.rand(1, 3, 64, 64))], strength=0.0)
        assert float((y - x).abs().mean()) < bound * flat, method


@pytest.mark.parametrize("method", ["adain", "wct"])
def test_shipped_style_blends_follow_their_weights(method: str) -> None:
    """A blend of a red and a blue style lands between the two pictures each gives alone, nearer
    the heavier style: measured by where its red-minus-blue lies, 0 at the blue style's picture
    and 1 at the red's."""
    from skimage import data

    grey = torch.from_numpy(data.camera()).float()[None, None] / 255.0
    grey = torch.nn.functional.interpolate(grey, size=(96, 96), mode="area")
    red = torch.cat([0.3 + 0.7 * grey, 0.1 * grey, 0.1 * grey], 1)
    blue = torch.cat([0.1 * grey, 0.1 * grey, 0.3 + 0.7 * grey], 1)
    s = ArbitraryStylizer(method)
    styles = [s.style_stats(red), s.style_stats(blue)]
    x = _photo(128)

    def redness(weights: list[float]) -> float:
        rgb = s.stylize_tensor(x, styles, weights=weights).mean(dim=(0, 2, 3))
        return float(rgb[0] - rgb[2])

    r, b = redness([1.0, 0.0]), redness([0.0, 1.0])
    assert r - b > 0.5  # (measured: AdaIN 0.82, WCT 0.86)
    mostly_red = (redness([3.0, 1.0]) - b) / (r - b)
    mostly_blue = (redness([1.0, 3.0]) - b) / (r - b)
    if method == "adain":
        # One decoder after a linear blend of features: near the weights (measured 0.745 and
        # 0.198 for 0.75 and 0.25).
        assert 0.6 < mostly_red < 0.9 and 0.1 < mostly_blue < 0.4
    else:
        # Four levels, each blending and decoding, lean to the blue style (measured 0.615 and
        # -0.026): the order and a clear gap are what hold.
        assert mostly_red > 0.5 and mostly_blue < 0.25 and mostly_red - mostly_blue > 0.4
        assert mostly_blue > -0.15 and mostly_red < 1.0


def test_shipped_adain_masks_put_each_style_in_its_region() -> None:
    s = ArbitraryStylizer("adain")
    red = torch.zeros(1, 3, 96, 96)
    red[:, 0] = 0.9
    blue = torch.zeros(1, 3, 96, 96)
    blue[:, 2] = 0.9
    red, blue = (t + 0.08 * torch.rand(1, 3, 96, 96) for t in (red, blue))
    x = _photo(192)
    left = torch.zeros(1, 1, *x.shape[-2:])
    left[..., : x.shape[-1] // 2] = 1.0
    y = s.stylize_tensor(x, [s.style_stats(red), s.style_stats(blue)],
                         regions=[(left, 0), (1.0 - left, 1)])
    w = x.shape[-1]
    l_rgb = y[..., : w // 3].mean(dim=(0, 2, 3))
    r_rgb = y[..., 2 * w // 3:].mean(dim=(0, 2, 3))
    assert float(l_rgb[0] - l_rgb[2]) > 0.2 and float(r_rgb[2] - r_rgb[0]) > 0.2


def test_shipped_adain_patches_match_the_whole_picture() -> None:
    x = _photo(600)
    style = torch.rand(1, 3, 16, 16)
    style = torch.nn.functional.interpolate(style, size=(128, 128), mode="bilinear")
    whole = ArbitraryStylizer("adain", patch=0)
    patched = ArbitraryStylizer("adain", patch=256)
    a = whole.stylize_tensor(x, [whole.style_stats(style)])
    b = patched.stylize_tensor(x, [patched.style_stats(style)])
    # Thumbnail statistics are not the whole picture's: close, not equal (0.06 measured).
    assert float((a - b).abs().mean()) < 0.08


# ------------------------------------------------------------------------------ distilled encoder


ENC = EncoderConfig(width=4, steps=4, size=32, batch=2, holdout=1, checkpoint_every=2,
                    preview_every=2, precision="fp32")


def test_encoder_distillation_resumes_exactly_and_learns(tmp_path: Path,
                                                         pictures: Path) -> None:
    straight = train_encoder(pictures, tmp_path / "straight", ENC)
    token = CancelToken()
    with pytest.raises(Cancelled):
        train_encoder(pictures, tmp_path / "resumed", ENC, cancel=token,
                      callback=lambda e: token.cancel() if e.step == 3 else None)
    with pytest.raises(InvalidOption, match="other width"):
        train_encoder(pictures, tmp_path / "resumed", ENC.replace(width=8), resume=True)
    resumed = train_encoder(pictures, tmp_path / "resumed", ENC, resume=True)
    a = load_file(str(straight.folder / "model.safetensors"))
    b = load_file(str(resumed.folder / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    model = load_model(straight.folder)
    assert model.kind == "encoder" and model.params == {"width": 4}
    # Resuming a finished run only writes the model again; it keeps the last losses and the
    # time of every session.
    again = load_model(train_encoder(pictures, tmp_path / "straight", ENC, resume=True).folder)
    assert again.config["training"]["final_losses"] == straight.losses != {}
    assert again.config["training"]["seconds_total"] > 0.5 * straight.seconds > 0
    assert (straight.folder / "previews" / "step_0000004.jpg").is_file()
    # The student's relu4_1 gets nearer the teacher's as it trains.
    losses: list[float] = []
    train_encoder(pictures, tmp_path / "longer",
                  ENC.replace(steps=60, width=8, preview_every=0, checkpoint_every=60,
                              learning_rate=3e-3),
                  callback=lambda e: losses.append(e.loss))
    assert sum(losses[-5:]) < 0.7 * sum(losses[:5]), (losses[:5], losses[-5:])


def test_student_predicts_relu4_1_on_vgg_scale() -> None:
    from impasto.models.student import StudentEncoder

    net = StudentEncoder(width=4)
    f = net(torch.rand(2, 3, 40, 56))
    assert f.shape == (2, 512, 5, 7) and bool((f >= 0).all())
    with pytest.raises(InvalidOption, match="width"):
        StudentEncoder(width=2)


def test_decoder_distillation_on_a_student_encoder(tmp_path: Path, pictures: Path,
                                                   decoders: dict[str, Path],
                                                   content_png: Path, style_png: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    enc = train_encoder(pictures, tmp_path / "enc", ENC.replace(preview_every=0)).folder
    cfg = TINY.replace(layer="relu4_1", encoder=str(enc), teacher=str(decoders["relu4_1"]))
    with pytest.raises(InvalidOption, match="--styles"):
        train_decoder(pictures, tmp_path / "nostyles", cfg)
    dec = train_decoder(pictures, tmp_path / "dec", cfg, styles=pictures)
    model = load_model(dec.folder)
    training = model.config["training"]
    assert training["mode"] == "distillation" and math.isfinite(sum(dec.losses.values()))
    assert training["encoder_sha256"] == load_model(enc).sha256
    # The pair stylises; each half refuses the other's partner.
    s = ArbitraryStylizer("adain", encoder=enc, decoders=[dec.folder])
    y = s.stylize_tensor(_photo(64), [s.style_stats(torch.rand(1, 3, 32, 32))])
    assert y.shape == (1, 3, 64, 64) and bool(torch.isfinite(y).all())
    with pytest.raises(InvalidOption, match="VGG-19"):
        ArbitraryStylizer("adain", decoders=[dec.folder])
    with pytest.raises(InvalidOption, match="trained on VGG-19"):
        ArbitraryStylizer("adain", encoder=enc, decoders=[decoders["relu4_1"]])
    with pytest.raises(InvalidOption, match="method adain"):
        ArbitraryStylizer("wct", encoder=enc)
    out = tmp_path / "o.png"
    code, _, err = run(capsys, "stylize", content_png, style_png, "-o", out, "--method",
                       "adain", "--encoder", enc, "--decoder", dec.folder)
    assert code == 0, err
    record = json.loads(read_metadata(out)["impasto"])
    assert record["encoder"]["sha256"] == load_model(enc).sha256
    for args in (["--encoder", enc], ["--method", "adain", "--encoder", decoders["relu4_1"]]):
        code, _, err = run(capsys, "stylize", content_png, style_png, "-o", tmp_path / "x.png",
                           *args)
        assert_one_line_error(code, err)
        assert not (tmp_path / "x.png").exists()
    # ONNX: the whole distilled AdaIN path, the encoder found by the decoder's record.
    ort = pytest.importorskip("onnxruntime")  # a skip, never a silent pass

    from impasto.arbitrary.graph import AdaINGraph

    path = tmp_path / "student.onnx"
    code, _, err = run(capsys, "export", dec.folder, "-o", path)
    assert_one_line_error(code, err, "--encoder")  # this encoder does not ship
    code, _, err = run(capsys, "export", dec.folder, "-o", path, "--encoder", enc)
    assert code == 0, err
    content, style, strength = torch.rand(1, 3, 48, 72), torch.rand(1, 3, 40, 56), torch.ones(1)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (theirs,) = session.run(None, {"content": content.numpy(), "style": style.numpy(),
                                   "strength": strength.numpy()})
    with torch.no_grad():
        ours = AdaINGraph(model.net, load_model(enc).net).eval()(content, style, strength)
    assert float(np.abs(theirs - ours.numpy()).max()) < 1e-4


def test_shipped_distilled_pair_is_close_to_vgg_and_reconstructs(tmp_path: Path) -> None:
    from impasto.features.vgg import VGG19
    from impasto.models import shipped_models
    from impasto.models.store import paired_model
    from impasto.training.encoder import distillation_loss

    shipped = shipped_models()
    pairs = {name: paired_model(name, "decoder") for name in shipped
             if paired_model(name, "decoder")}
    assert pairs == {"student-relu4_1": "adain-student-relu4_1"}
    for encoder, decoder in pairs.items():
        assert encoder in shipped and decoder in shipped
        assert paired_model(decoder, "encoder") == encoder
        enc, dec = load_model(encoder), load_model(decoder)
        assert enc.kind == "encoder" and dec.kind == "decoder"
        assert dec.config["training"]["encoder_sha256"] == enc.sha256
        for model in (enc, dec):
            card = model.config["card"]
            assert card["training_pictures"] and card["licence"] and card["limits"]
        # The student's relu4_1 estimates VGG-19's on a photo it never saw.
        x = _photo(256)
        with torch.no_grad():
            _, parts = distillation_loss(enc.net(x), VGG19(["relu4_1"])(x)["relu4_1"], 1.0)
        # measured: 0.30 and 0.047 (the shipped pair)
        assert parts["features"] < 0.45 and parts["stats"] < 0.15, parts
        # At strength 0 the pair gives the content back in substance.
        s = ArbitraryStylizer("adain", encoder=encoder)
        y = s.stylize_tensor(x, [s.style_stats(torch.rand(1, 3, 64, 64))], strength=0.0)
        flat = float((x - x.mean(dim=(2, 3), keepdim=True)).abs().mean())
        assert float((y - x).abs().mean()) < 0.75 * flat  # measured 0.63 (VGG's pair: 0.51)


def test_export_finds_the_shipped_encoder_a_decoder_pairs_with(tmp_path: Path) -> None:
    """An AdaIN decoder distilled on a shipped encoder exports with it, found by the pairing
    its config.json names (and checked against the SHA-256 its record holds)."""
    pytest.importorskip("onnx")
    from impasto.export import export_model
    from impasto.models.store import paired_model

    written = export_model(load_model("adain-student-relu4_1"), tmp_path / "pair.onnx")
    assert written.stat().st_size > 0
    assert paired_model("adain-student-relu4_1", "encoder") == "student-relu4_1"


def test_decoder_fine_tuning_from_a_model(tmp_path: Path, pictures: Path,
                                          decoders: dict[str, Path]) -> None:
    # The fixture decoders are width 8: a width-4 run cannot start from them.
    with pytest.raises(InvalidOption, match="--init"):
        train_decoder(pictures, tmp_path / "bad", TINY.replace(init=str(decoders["relu2_1"])))
    with pytest.raises(InvalidOption, match="--init"):
        train_decoder(pictures, tmp_path / "bad2", TINY.replace(width=8,
                                                                init=str(decoders["relu1_1"])))
    tuned = train_decoder(pictures, tmp_path / "tuned",
                          TINY.replace(width=8, steps=1, preview_every=0,
                                       init=str(decoders["relu2_1"])))
    record = load_model(tuned.folder).config["training"]["init"]
    assert record["sha256"] == load_model(decoders["relu2_1"]).sha256
