"""Contract tests over every registered architecture, the model folder format, inference at any
size and the ONNX export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from impasto.errors import InvalidOption, WeightsError
from impasto.image.color import finish
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
    assert model.stride == getattr(net, "stride", arch.stride)
    assert model.sha256 == cfg["weights_sha256"]


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
    with pytest.raises(InvalidOption):
        finish(styled, content, strength=2.0)


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
