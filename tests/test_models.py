"""Contract tests over every registered architecture, the model folder format, inference at any
size and the ONNX export."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest
import torch

from impasto.errors import InvalidOption, WeightsError
from impasto.image.finish import finish
from impasto.image.resize import pad_to
from impasto.models import architecture, architectures, load_model, save_model
from impasto.models.inference import run_network

ARCHS = sorted(architectures())
STYLE_ARCHS = [n for n in ARCHS if architecture(n).kind == "style"]


def example(net: torch.nn.Module, batch: int, h: int, w: int) -> torch.Tensor:
    """An input for ``net``: RGB for style networks, features for decoders."""
    if hasattr(net, "example_input"):
        return net.example_input(batch, h, w)
    return torch.rand(batch, 3, h, w)


def test_both_required_architectures_are_registered() -> None:
    assert {"johnson", "fast", "fast-tiny", "decoder", "student"} <= set(ARCHS)
    assert architecture("decoder").kind == "decoder"
    assert architecture("student").kind == "encoder"


@pytest.mark.parametrize("name", ARCHS)
def test_forward_shape_and_finite(name: str) -> None:
    arch = architecture(name)
    torch.manual_seed(0)
    net = arch.build().eval()
    x = example(net, 2, 4 * arch.stride, 6 * arch.stride)
    with torch.no_grad():
        y = net(x)
    if arch.kind == "encoder":  # pictures in, VGG-19 features out
        assert y.shape == (2, 512, 4, 6) and bool((y >= 0).all())
    else:  # pictures (or features) in, pictures out
        assert y.shape == (2, 3, 4 * arch.stride, 6 * arch.stride)
    assert bool(torch.isfinite(y).all())


@pytest.mark.parametrize("name", ARCHS)
def test_every_parameter_gets_a_gradient(name: str) -> None:
    arch = architecture(name)
    torch.manual_seed(0)
    net = arch.build().train()
    x = example(net, 2, 4 * arch.stride, 4 * arch.stride)
    net(x).pow(2).mean().backward()
    for pname, p in net.named_parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, pname


@pytest.mark.parametrize("name", ARCHS)
def test_batch_equals_single(name: str) -> None:
    arch = architecture(name)
    torch.manual_seed(0)
    net = arch.build().eval()
    x = example(net, 3, 4 * arch.stride, 4 * arch.stride)
    with torch.no_grad():
        batch = net(x)
        single = torch.cat([net(x[i:i + 1]) for i in range(3)])
    assert torch.allclose(batch, single, atol=1e-5)


@pytest.mark.parametrize("name", ARCHS)
def test_save_load_round_trip(tmp_path: Path, name: str) -> None:
    arch = architecture(name)
    torch.manual_seed(1)
    net = arch.build().eval()
    folder = save_model(tmp_path / name, net, name, {}, {"name": "test"})
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["arch"] == name and len(cfg["weights_sha256"]) == 64
    model = load_model(folder)
    x = example(net, 1, 4 * arch.stride, 4 * arch.stride)
    with torch.no_grad():
        assert torch.equal(model.net(x), net(x))
    assert model.stride == downsampling(net)  # what inputs are padded to is the real stride
    assert model.sha256 == cfg["weights_sha256"]


def downsampling(net: torch.nn.Module) -> int:
    """The factor between a picture's side and the network's coarsest feature map, measured:
    a decoder's output side over its input's; otherwise the input's side over the smallest
    side of any module's output."""
    if hasattr(net, "in_channels"):  # a decoder: features in, a picture out
        with torch.no_grad():
            return int(net(torch.rand(1, net.in_channels, 3, 5)).shape[-1]) // 5
    sides: list[int] = []
    hooks = [m.register_forward_hook(
        lambda _m, _i, out: sides.append(out.shape[-1]) if isinstance(out, torch.Tensor)
        and out.dim() == 4 else None) for m in net.modules()]
    try:
        with torch.no_grad():
            net(torch.rand(1, 3, 64, 96))
    finally:
        for h in hooks:
            h.remove()
    assert 96 % min(sides) == 0
    return 96 // min(sides)


@pytest.mark.parametrize("name", ARCHS)
def test_pictures_of_any_side_keep_their_size(name: str) -> None:
    """Inputs are padded to the stride every network declares, and that is its real
    downsampling: sides that are not multiples of it come back whole; the default padding
    covers every style network."""
    from impasto.models.inference import MAX_STRIDE

    arch = architecture(name)
    net = arch.build().eval()
    measured = downsampling(net)
    assert getattr(net, "stride", arch.stride) == measured
    if arch.kind == "style":
        assert MAX_STRIDE % measured == 0
        x = torch.rand(1, 3, 3 * measured + 1, 5 * measured - 1)
        assert run_network(net, x, stride=measured).shape == x.shape
        with torch.no_grad():  # unpadded, the network does not give the size back
            assert net(x).shape != x.shape


def test_corrupt_or_tampered_models_are_refused(tmp_path: Path) -> None:
    net = architecture("fast").build()
    folder = save_model(tmp_path / "m", net, "fast", {}, {})
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="checksum"):
        load_model(folder)
    with pytest.raises(InvalidOption, match="model not found"):
        load_model(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidOption, match=r"config\.json is missing"):
        load_model(tmp_path / "empty")
    with pytest.raises(InvalidOption, match="unknown architecture"):
        architecture("nope")
    with pytest.raises(InvalidOption, match="no parameter"):
        architecture("fast").build(depth=3)


@pytest.mark.parametrize("hw", [(37, 53), (8, 8), (3, 5), (64, 48)])
def test_inference_at_any_size(hw: tuple[int, int]) -> None:
    net = architecture("fast").build().eval()
    x = torch.rand(1, 3, *hw)
    y = run_network(net, x, stride=8)
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1
    padded, size = pad_to(x, 8)
    assert size == hw and padded.shape[-2] % 8 == 0 and padded.shape[-1] % 8 == 0


def test_strength_blends_with_the_content() -> None:
    content, styled = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    assert torch.allclose(finish(styled, content, strength=0.0), content)
    assert torch.allclose(finish(styled, content, strength=1.0), styled)
    half = finish(styled, content, strength=0.5)
    assert torch.allclose(half, 0.5 * (styled + content))
    # (A strength outside [0, 1] is refused where the options are built: test_pipeline.py.)


@pytest.mark.parametrize("name", STYLE_ARCHS)
def test_onnx_export_agrees_with_torch(tmp_path: Path, name: str) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from impasto.export import export_model as export_onnx
    from impasto.models.inference import OnnxBackend, TorchBackend

    arch = architecture(name)
    torch.manual_seed(2)
    folder = save_model(tmp_path / name, arch.build().eval(), name, {}, {})
    model = load_model(folder)
    path = export_onnx(model, tmp_path / f"{name}.onnx")
    # Dynamic height and width: a size the export never saw, and not a multiple of the stride.
    x = torch.rand(1, 3, 45, 70)
    ours = TorchBackend(model, device=torch.device("cpu"))(x)
    theirs = OnnxBackend(path, stride=model.stride)(x)
    assert theirs.shape == ours.shape
    assert float((ours - theirs).abs().max()) < 1e-4


@pytest.mark.parametrize("padding", [(1, 1, 1, 1), (2, 2, 2, 2), (4, 4, 4, 4), (1, 0, 3, 2)])
def test_sliced_reflection_pad_is_reflection_padding(padding: tuple[int, int, int, int]) -> None:
    from impasto.models.export import SlicedReflectionPad

    x = torch.rand(2, 3, 9, 11)
    assert torch.equal(SlicedReflectionPad(padding)(x), torch.nn.ReflectionPad2d(padding)(x))


@pytest.mark.parametrize("name", ARCHS)
def test_for_export_swaps_every_reflection_pad_and_keeps_the_outputs(name: str) -> None:
    from impasto.models.export import SlicedReflectionPad, for_export

    torch.manual_seed(3)
    net = architecture(name).build().eval()
    pads = sum(isinstance(m, torch.nn.ReflectionPad2d) for m in net.modules())
    copy = for_export(net)
    assert not any(isinstance(m, torch.nn.ReflectionPad2d) for m in copy.modules())
    assert sum(isinstance(m, SlicedReflectionPad) for m in copy.modules()) == pads
    assert sum(isinstance(m, torch.nn.ReflectionPad2d) for m in net.modules()) == pads
    x = example(net, 1, 32, 48)
    with torch.no_grad():
        assert torch.equal(copy(x), net(x))


def test_a_folder_without_a_checksum_is_refused(tmp_path: Path) -> None:
    folder = save_model(tmp_path / "m", architecture("fast").build(), "fast", {}, {})
    config = json.loads((folder / "config.json").read_text())
    del config["weights_sha256"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError, match=r"no checksum.*re-save"):
        load_model(folder)


def test_a_local_folder_does_not_shadow_a_shipped_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from impasto.models import shipped_models

    shipped = shipped_models()
    if not shipped:
        pytest.skip("this build ships no models")
    name = min(shipped, key=lambda n: (shipped[n] / "model.safetensors").stat().st_size)
    monkeypatch.chdir(tmp_path)
    assert load_model(name).path == shipped[name]  # no such folder here: the shipped model
    save_model(tmp_path / name, architecture("fast").build(), "fast", {}, {})
    with pytest.raises(InvalidOption, match=re.escape(f"write ./{name}")):
        load_model(name)
    assert load_model(f"./{name}").arch == "fast"  # the folder, said as a path
    assert load_model(tmp_path / name).arch == "fast"


def test_a_stale_onnx_file_beside_the_weights_is_not_used(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from impasto.models.export import WEIGHTS_KEY, export_onnx
    from impasto.models.inference import OnnxBackend, StaleExportWarning, backend_for

    cpu = torch.device("cpu")
    torch.manual_seed(4)
    folder = save_model(tmp_path / "m", architecture("fast").build().eval(), "fast", {}, {})
    first = load_model(folder)
    path = export_onnx(first, folder / "model.onnx")
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props[WEIGHTS_KEY] == first.sha256
    assert ort.InferenceSession(str(path)).get_modelmeta().custom_metadata_map[
        WEIGHTS_KEY] == first.sha256
    x = torch.rand(1, 3, 24, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(backend_for(first, "onnx", device=cpu)(x), OnnxBackend(path)(x))
    # New weights in the same folder: the old export is not theirs.
    save_model(folder, architecture("fast").build().eval(), "fast", {}, {})
    second = load_model(folder)
    with pytest.warns(StaleExportWarning, match="not exported from these weights"):
        ours = backend_for(second, "onnx", device=cpu)(x)
    assert float((ours - run_network(second.net, x)).abs().max()) < 1e-4
    assert float((OnnxBackend(path)(x) - ours).abs().max()) > 1e-3


def test_the_onnx_export_is_cached_by_the_weights_checksum(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first process exports into the user's cache; the next uses that file without
    exporting; a damaged file is exported again; with the cache off nothing is written."""
    pytest.importorskip("onnxruntime")
    from impasto.models import export, inference

    monkeypatch.setenv("IMPASTO_CACHE", str(tmp_path / "cache"))
    cpu = torch.device("cpu")
    torch.manual_seed(5)
    model = load_model(save_model(tmp_path / "m", architecture("fast").build().eval(), "fast",
                                  {}, {}))
    x = torch.rand(1, 3, 24, 32)
    want = inference.backend_for(model, "onnx", device=cpu)(x)
    (cached,) = (tmp_path / "cache" / "onnx").glob("*.onnx")
    assert model.sha256 in cached.name
    assert not list(cached.parent.glob(".*"))  # no temporary file or folder left

    def no_export(*args: object, **kwargs: object) -> None:
        raise AssertionError("exported again")

    with monkeypatch.context() as m:
        m.setattr(export, "export_onnx", no_export)
        assert torch.equal(inference.backend_for(model, "onnx", device=cpu)(x), want)
    cached.write_bytes(b"not an onnx file")
    assert torch.equal(inference.backend_for(model, "onnx", device=cpu)(x), want)
    assert cached.stat().st_size > 1000
    monkeypatch.setenv("IMPASTO_CACHE", "off")
    cached.unlink()
    assert torch.equal(inference.backend_for(model, "onnx", device=cpu)(x), want)
    assert not cached.exists()


def test_a_failed_export_leaves_no_part_file(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from impasto.arbitrary.graph import export_adain
    from impasto.models.export import export_onnx

    def half_written(model: object, args: object, f: str, **kwargs: object) -> None:
        Path(f).write_bytes(b"\x08\x07")
        raise RuntimeError("exporter failed")

    monkeypatch.setattr(torch.onnx, "export", half_written)
    style_net = load_model(save_model(tmp_path / "s", architecture("fast").build(), "fast",
                                      {}, {}))
    decoder = load_model(save_model(tmp_path / "d", architecture("decoder").build(width=4),
                                    "decoder", {"width": 4}, {}))
    for export, model in ((export_onnx, style_net), (export_onnx, decoder),
                          (export_adain, decoder)):
        with pytest.raises(RuntimeError, match="exporter failed"):
            export(model, tmp_path / "out" / "m.onnx")
        assert not list((tmp_path / "out").iterdir())


def test_the_shipped_models_list_the_training_set_the_script_rebuilds(
        tmp_path: Path, shared_data: Path) -> None:
    """Each shipped model's card lists its training files (names and SHA-256), and
    scripts/training_set.py rebuilds exactly that set from the shared data, from the folders
    the card names (the default set where it names none)."""
    import runpy

    from impasto.models.store import shipped_configs

    source = shared_data / "train"
    if not (source / "SOURCES.md").is_file():
        pytest.skip("../shared/data/train is not present: skipped")
    script = runpy.run_path(str(Path(__file__).parent.parent / "scripts" / "training_set.py"))
    assert script["check_shipped"](source) == []
    configs = shipped_configs()
    assert configs
    sets = {}
    for name, config in configs.items():
        training = config["training"]
        folders = script["trained_folders"](training)
        if folders not in sets:
            sets[folders] = script["record_lists"](script["build"](source, None,
                                                                   folders=list(folders)))
        lists = sets[folders]
        assert training["training_files"] == lists["training_files"], name
        assert len(training["training_files"]) == training["pictures"] + len(
            training["held_out"]), name
        if training.get("style_pictures"):
            assert training["style_files"] == lists["style_files"], name
    # The built-in styles' networks trained on photos only, the default set on paintings too.
    assert {("coco-clean", "paintings"), ("coco-clean", "open_photos")} <= set(sets)
    manifests = script["build"](source, tmp_path / "set", link=True)
    on_disk = json.loads((tmp_path / "set" / "content" / "manifest.json").read_text())["files"]
    assert [e["name"] for e in on_disk] == sorted(
        p.name for p in (tmp_path / "set" / "content").glob("*.jpg"))
    assert [e["name"] for e in on_disk] == [e["name"] for e in manifests["content"]]
    assert all(len(e["sha256"]) == 64 for e in on_disk)


def test_onnx_sessions_take_torch_thread_count(tmp_path: Path) -> None:
    """One thread setting governs both runtimes: a Ray actor holding one CPU sets torch's,
    and onnxruntime must not take every core anyway."""
    pytest.importorskip("onnxruntime")
    from impasto.models.inference import OnnxBackend, backend_for

    model = load_model(save_model(tmp_path / "m", architecture("fast").build().eval(), "fast",
                                  {}, {}))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        backend = backend_for(model, "onnx", device=torch.device("cpu"))
        assert backend.session.get_session_options().intra_op_num_threads == 1
        assert isinstance(backend, OnnxBackend)
    finally:
        torch.set_num_threads(before)
