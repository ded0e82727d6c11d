"""The one way in: a Request for every method, one Result type, one event type, one provenance
record, and the rules each checked in one place."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import impasto
from impasto.config import ArbitraryOptions, NetworkOptions, TransferConfig
from impasto.errors import Cancelled, InvalidOption
from impasto.events import CancelToken, Progress
from impasto.image.save import read_metadata
from impasto.models import architecture, save_model
from impasto.pipeline import Pipeline, Request, options_for
from impasto.runtime import choose_runtime
from tests.conftest import synthetic_rgb
from tests.test_cli import assert_one_line_error, run

FAST = {"size": 32, "iterations": 3, "seed": 0}


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny untrained network and an untrained AdaIN decoder (the plumbing needs no trained
    weights)."""
    root = tmp_path_factory.mktemp("parts")
    torch.manual_seed(0)
    return {
        "model": save_model(root / "net", architecture("fast").build(width=8).eval(), "fast",
                            {"width": 8}, {"name": "tiny"}),
        "decoder": save_model(root / "dec", architecture("decoder").build(layer="relu4_1",
                                                                          width=8),
                              "decoder", {"layer": "relu4_1", "width": 8}, {"name": "t-dec"}),
    }


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline("cpu")


def requests(parts: dict[str, Path], content: np.ndarray, style: np.ndarray
             ) -> dict[str, Request]:
    return {
        "optimize": Request(content, style, method="optimize", options=FAST),
        "network": Request(content, method="network",
                           options={"model": str(parts["model"]), "size": 40}),
        "adain": Request(content, style, method="adain",
                         options={"decoders": [str(parts["decoder"])], "size": 40}),
        "wct": Request(content, style, method="wct",
                       options={"decoders": [str(parts["decoder"])], "size": 40}),
    }


def test_every_method_returns_one_result_type_with_events_and_a_record(
        parts: dict[str, Path], pipeline: Pipeline, content_array: np.ndarray,
        style_array: np.ndarray, tmp_path: Path) -> None:
    for method, request in requests(parts, content_array, style_array).items():
        events: list[Progress] = []
        result = pipeline.render(request, callback=events.append)
        assert isinstance(result, impasto.Result) and result.method == method
        # One event type for every method: at least start and end.
        assert events[0].stage == "start" and events[-1].stage == "done"
        assert {e.method for e in events} == {method}
        if method == "optimize":
            assert sum(e.stage == "step" for e in events) == FAST["iterations"]
        # The picture is the content's shape at the asked size, and is not the content.
        w, h = result.image.size
        assert max(w, h) == (32 if method == "optimize" else 40) and abs(w / h - 64 / 48) < 0.1
        content = np.asarray(Image.fromarray(content_array).resize((w, h)), np.float32)
        assert np.abs(np.asarray(result.image, np.float32) - content).mean() > 1.0
        # One record, built in one place: the same keys for every method.
        record = result.record
        assert record["method"] == method and record["software"].startswith("impasto")
        assert record["content"]["sha256"] and record["options"] == result.options.to_dict()
        assert len(record["styles"]) == (0 if method == "network" else 1)
        assert set(result.timings) >= {"load", "render", "total"}
        saved = json.loads(read_metadata(result.save(tmp_path / f"{method}.png"))["impasto"])
        assert saved == json.loads(json.dumps(record, default=str))
    assert "model" in pipeline.render(requests(parts, content_array, style_array)["network"]
                                      ).record


def test_the_optimiser_fills_in_and_records_its_seed(pipeline: Pipeline,
                                                     content_array: np.ndarray,
                                                     style_array: np.ndarray) -> None:
    result = pipeline.render(content=content_array, styles=style_array,
                             options={"size": 32, "iterations": 2})
    assert isinstance(result.options.seed, int)
    again = pipeline.render(content=content_array, styles=style_array,
                            options={"size": 32, "iterations": 2, "seed": result.options.seed})
    assert torch.equal(result.tensor, again.tensor)


def test_cancel_works_for_every_method(parts: dict[str, Path], pipeline: Pipeline,
                                       content_array: np.ndarray,
                                       style_array: np.ndarray) -> None:
    for request in requests(parts, content_array, style_array).values():
        token = CancelToken()
        token.cancel()
        with pytest.raises(Cancelled):
            pipeline.render(request, cancel=token)
    # Mid-run: the optimiser stops at the next step.
    token, seen = CancelToken(), []

    def stop_after_two(event: Progress) -> None:
        seen.append(event.step)
        if event.stage == "step" and event.step == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        pipeline.render(Request(content_array, style_array,
                                options={**FAST, "iterations": 20}),
                        callback=stop_after_two, cancel=token)
    assert max(seen) <= 3


def test_options_are_checked_once_with_one_message(content_array: np.ndarray,
                                                   style_array: np.ndarray) -> None:
    with pytest.raises(InvalidOption, match="iterations does not apply to method adain"):
        Request(content_array, style_array, method="adain", options={"iterations": 3})
    with pytest.raises(InvalidOption, match="method must be one of optimize, network"):
        Request(content_array, style_array, method="magic")
    with pytest.raises(InvalidOption, match="style-blend has 1 weights for 2 style pictures"):
        Request(content_array, [style_array, style_array], method="adain",
                options={"style_blend": [1.0]})
    for method in ("optimize", "adain", "wct"):
        with pytest.raises(InvalidOption, match="names style 3; there are 2"):
            Request(content_array, [style_array, style_array], method=method,
                    masks=[(np.zeros((48, 64), np.uint8), 3)])
    with pytest.raises(InvalidOption, match="give no style pictures"):
        Request(content_array, style_array, method="network", options={"model": "x"})
    with pytest.raises(InvalidOption, match="needs a model"):
        NetworkOptions()
    with pytest.raises(InvalidOption, match="protect"):
        Request(content_array, style_array, method="adain",
                protect=[(np.zeros((48, 64), np.uint8), 2.0)])
    # The same rule for every method: strength in [0, 1], size from 16.
    for cls in (TransferConfig, ArbitraryOptions):
        with pytest.raises(InvalidOption, match="strength"):
            cls(strength=1.5)
        with pytest.raises(InvalidOption, match="size"):
            cls(size=8)
    with pytest.raises(InvalidOption, match="size"):
        NetworkOptions(model="x", size=True)
    # "gatys" is still accepted for the optimiser.
    assert Request(content_array, style_array, method="gatys").method == "optimize"
    assert options_for("adain", {"style_blend": [1, 2]}).style_blend == (1, 2)


def test_sizes_are_refused_before_any_pixel_is_made(parts: dict[str, Path], pipeline: Pipeline,
                                                    content_array: np.ndarray,
                                                    style_array: np.ndarray,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import impasto.pipeline.inputs as inputs

    def no_resize(*args: object, **kwargs: object) -> None:
        raise AssertionError("resized before the size was checked")

    monkeypatch.setattr(inputs, "resize_array", no_resize)
    for method in ("network", "adain"):
        request = requests(parts, content_array, style_array)[method]
        big = request.replace(options=request.options.replace(size=20000),
                              max_pixels=100_000)
        with pytest.raises(InvalidOption, match="over the limit of 100000 pixels"):
            pipeline.render(big)


def test_the_runtime_policy_is_one_table() -> None:
    cpu = torch.device("cpu")
    assert choose_runtime("network", "cpu").precision == "fp32"  # auto: small nets stay fp32
    assert choose_runtime("network", "cpu", backend="onnx").backend == "onnx"
    assert choose_runtime("arbitrary", "cpu").channels_last is True
    assert choose_runtime("training", "cpu").channels_last is False
    assert choose_runtime("optimize", "cpu", precision="fp32").device == cpu
    bf16 = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)() or getattr(
        torch.cpu, "_is_amx_tile_supported", lambda: False)()
    assert choose_runtime("optimize", "cpu").precision == ("bf16" if bf16 else "fp32")
    # The optimiser's VGG-19 runs channels-last with bf16 on CPUs with AMX, NCHW in fp32.
    amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    assert choose_runtime("optimize", "cpu", precision="bf16").channels_last is bool(amx)
    assert choose_runtime("optimize", "cpu", precision="fp32").channels_last is False
    with pytest.raises(InvalidOption, match="onnx"):
        choose_runtime("optimize", "cpu", backend="onnx")


def test_the_optimisers_channels_last_network_gives_the_same_loss_and_gradient() -> None:
    """The engine's VGG-19 in channels-last (what bf16 runs on CPUs with AMX) computes the
    objective and its gradient to the pixels as the NCHW one does."""
    from impasto.optim.transfer import scale_objective, style_mix
    from impasto.pipeline.engines import ArbitraryEngine, OptimizeEngine
    from impasto.runtime.policy import Runtime

    cfg = TransferConfig(size=96)
    engine = OptimizeEngine(ArbitraryEngine())
    layers = list(cfg.content_layers) + list(cfg.style_layers)
    content = torch.from_numpy(synthetic_rgb(64, 96, seed=1)).permute(2, 0, 1)[None] / 255
    style = torch.from_numpy(synthetic_rgb(80, 80, seed=2)).permute(2, 0, 1)[None] / 255
    found = []
    for channels_last in (False, True):
        vgg = engine.network(layers, "max", "zeros",
                             Runtime(torch.device("cpu"), "fp32", channels_last))
        assert vgg.convs["conv1_1"].weight.is_contiguous(
            memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        objective = scale_objective(vgg, cfg, content, [style], style_mix(cfg, 1),
                                    content_weight=0.5, style_weight=0.5, precision="fp32")
        x = content.clone().requires_grad_(True)
        loss, _ = objective(x)
        loss.backward()
        found.append((float(loss.detach()), x.grad))
    assert found[0][0] == pytest.approx(found[1][0], rel=1e-4)
    assert torch.allclose(found[0][1], found[1][1], rtol=1e-3, atol=1e-6 * float(
        found[0][1].abs().max()))


def test_auto_backend_picks_onnxruntime_for_networks_on_cpus(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``backend="auto"``: onnxruntime for a network on the CPU (measured fastest there), torch
    when the user asks for a torch feature, for the other workloads, or without onnxruntime."""
    from impasto.runtime import policy

    monkeypatch.setattr(policy, "onnxruntime_available", lambda: True)
    auto = choose_runtime("network", "cpu")
    assert (auto.backend, auto.precision, auto.channels_last) == ("onnx", "fp32", False)
    assert choose_runtime("network", "cpu", precision="fp32").backend == "onnx"
    assert choose_runtime("network", "cpu", precision="bf16").backend == "torch"
    assert choose_runtime("network", "cpu", channels_last=True).backend == "torch"
    assert choose_runtime("network", "cpu", compile=True).backend == "torch"
    for workload in ("optimize", "arbitrary", "training"):
        assert choose_runtime(workload, "cpu").backend == "torch"
    monkeypatch.setattr(policy, "onnxruntime_available", lambda: False)
    assert choose_runtime("network", "cpu").backend == "torch"
    with pytest.raises(InvalidOption, match="backend must be one of auto, torch, onnx"):
        choose_runtime("network", "cpu", backend="tensorrt")


def test_conveniences_are_the_pipeline(parts: dict[str, Path], content_array: np.ndarray,
                                       style_array: np.ndarray) -> None:
    """stylize(), Stylizer, NetworkStylizer and ArbitraryPictures make the picture the pipeline
    makes from the same request."""
    direct = impasto.render(Request(content_array, style_array, options=FAST))
    via_stylize = impasto.stylize(content_array, style_array, **FAST)
    via_stylizer = impasto.Stylizer("cpu").stylize(content_array, style_array, **FAST)
    assert np.array_equal(np.asarray(direct.image), np.asarray(via_stylize))
    assert torch.equal(direct.tensor, via_stylizer.tensor)
    network = impasto.NetworkStylizer(str(parts["model"]))
    by_render = impasto.render(Request(content_array, method="network",
                                       options={"model": str(parts["model"])}))
    assert torch.equal(network(content_array).tensor, by_render.tensor)
    x = torch.from_numpy(content_array).permute(2, 0, 1)[None].float() / 255
    assert torch.allclose(network.tensor(x), by_render.tensor, atol=1 / 255)
    pictures = impasto.ArbitraryPictures("adain", decoders=[str(parts["decoder"])])
    by_render = impasto.render(Request(content_array, style_array, method="adain",
                                       options={"decoders": [str(parts["decoder"])]}))
    assert torch.equal(pictures(content_array, style_array).tensor, by_render.tensor)


def test_folder_outputs_never_collide(tmp_path: Path, parts: dict[str, Path],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(synthetic_rgb(32, 40, seed=1)).save(src / "a.png")
    Image.fromarray(synthetic_rgb(32, 40, seed=2)).save(src / "a.jpg")
    Image.fromarray(synthetic_rgb(32, 40, seed=3)).save(src / "b.png")
    code, _, err = run(capsys, "stylize", src, "-o", tmp_path / "out", "--model",
                       parts["model"])
    assert code == 0, err
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["a_jpg.png", "a_png.png", "b.png"]
    first = json.loads(read_metadata(tmp_path / "out" / "a_jpg.png")["impasto"])
    assert first["content"]["name"] == "a.jpg"


def test_cli_refuses_mixed_method_options(tmp_path: Path, content_png: Path, style_png: Path,
                                          parts: dict[str, Path],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.png"
    for args, needle in (
        (["--method", "adain", "--tileable"], "--tileable goes with --method optimize"),
        (["--method", "adain", "--preview-dir", str(tmp_path)], "--preview-dir goes with"),
        (["--method", "wct", "--protect", str(content_png)], "protect"),
    ):
        code, _, err = run(capsys, "stylize", content_png, style_png, "-o", out, *args)
        assert_one_line_error(code, err, needle)
    assert not out.exists()


def test_texture_writes_previews_with_preview_dir(tmp_path: Path, style_png: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    previews = tmp_path / "previews"
    code, _, err = run(capsys, "texture", style_png, "-o", tmp_path / "t.png", "--size", "32",
                       "--iterations", "4", "--preview-every", "2", "--preview-dir", previews)
    assert code == 0, err
    assert sorted(p.name for p in previews.iterdir()) == ["step_00002.png", "step_00004.png"]
    code, _, err = run(capsys, "texture", style_png, "-o", tmp_path / "u.png", "--size", "32",
                       "--iterations", "2", "--preview-dir", tmp_path / "default")
    assert code == 0, err
    assert [p.name for p in (tmp_path / "default").iterdir()] == ["step_00002.png"]


def test_progressive_start_from_the_adain_picture(content_array: np.ndarray,
                                                  style_array: np.ndarray) -> None:
    """init="adain" starts the optimiser from the AdaIN picture (shipped decoder): with no
    steps the result is that picture, and the record says how the run started."""
    pipeline = Pipeline("cpu")
    adain = pipeline.render(Request(content_array, style_array, method="adain",
                                    options={"size": 48, "precision": "fp32"}))
    start = pipeline.render(Request(content_array, style_array, options={
        "size": 48, "iterations": 0, "init": "adain", "precision": "fp32", "seed": 0}))
    assert start.image.size == adain.image.size
    assert float((start.tensor - adain.tensor).abs().mean()) < 0.02
    plain = pipeline.render(Request(content_array, style_array, options={
        "size": 48, "iterations": 0, "init": "content", "precision": "fp32", "seed": 0}))
    assert float((plain.tensor - adain.tensor).abs().mean()) > 0.05
    # The default start (auto) is the AdaIN picture, and the options as they ran say so.
    default = pipeline.render(Request(content_array, style_array, options={
        "size": 48, "iterations": 0, "precision": "fp32", "seed": 0}))
    assert torch.equal(default.tensor, start.tensor)
    assert default.options.init == "adain" and plain.options.init == "content"
    assert start.record["init"]["method"] == "adain"
    assert start.record["init"]["decoders"]["relu4_1"]["name"] == "adain-relu4_1"
    with pytest.raises(InvalidOption, match="needs a content picture"):
        Request(None, style_array, options={"init": "adain"})


def test_the_temporal_loss_holds_the_picture_where_the_flow_is_trusted(
        content_array: np.ndarray, style_array: np.ndarray) -> None:
    """A video frame's temporal term (Ruder et al. 2016) pulls the picture towards the carried
    previous output where ``trust`` is 1 and leaves it alone where it is 0."""
    from impasto.optim.objective import TemporalTerm

    pipeline = Pipeline("cpu")
    options = {"size": 32, "iterations": 15, "seed": 0, "scales": 1, "precision": "fp32",
               "init": "content"}
    free = pipeline.render(Request(content_array, style_array, options=options)).tensor
    target = torch.rand(1, 3, *free.shape[-2:], generator=torch.Generator().manual_seed(1))
    trust = torch.zeros(1, 1, *free.shape[-2:])
    trust[..., : free.shape[-1] // 2] = 1.0
    term = TemporalTerm(target, trust, 1000.0)
    held = pipeline.render(Request(content_array, style_array, options=options, temporal=term))

    def distance(x: torch.Tensor, half: slice) -> float:
        return float((x[..., half] - target[..., half]).abs().mean())

    left, right = slice(0, free.shape[-1] // 2), slice(free.shape[-1] // 2, None)
    assert distance(held.tensor, left) < 0.5 * distance(free, left)
    assert distance(held.tensor, right) > 0.8 * distance(free, right)
    assert held.record["temporal_loss"]["weight"] == 1000.0
    with pytest.raises(InvalidOption, match="temporal loss goes with method optimize"):
        Request(content_array, style_array, method="adain", temporal=term)
    with pytest.raises(InvalidOption, match="trust map"):
        TemporalTerm(target, trust[0], 1.0)
