"""Tiled optimisation: agrees with the untiled objective, bounded tiles, memory budgets."""

from __future__ import annotations

import pytest
import torch

from impasto.config import TransferConfig
from impasto.errors import InvalidOption
from impasto.features import VGG19
from impasto.losses.functional import gram
from impasto.optim.memory import parse_memory
from impasto.optim.objective import TransferObjective
from impasto.optim.tiled import TiledObjective, TilePlan, plan_tiles, tiled_grams, tiles
from impasto.optim.transfer import TransferInputs, run_transfer, style_mix
from tests.conftest import stripes, synthetic_rgb, to_tensor

LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


@pytest.fixture(scope="module")
def vgg() -> VGG19:
    return VGG19([*LAYERS, "relu4_2"])


def test_tile_cores_partition_the_picture() -> None:
    plan = TilePlan(core=64, margin=32)
    seen = torch.zeros(160, 224, dtype=torch.int32)
    for t in tiles(160, 224, plan, phase=(0.3, 0.8)):
        seen[t.y0:t.y1, t.x0:t.x1] += 1
        assert t.in_y0 == max(0, t.y0 - 32) and t.in_x1 == min(224, t.x1 + 32)
        assert all(v % 16 == 0 for v in (t.y0, t.y1, t.x0, t.x1, t.in_y0, t.in_x0))
    assert bool((seen == 1).all())
    # Pieces are never slivers and never larger than the core, whatever the phase.
    for phase in (0.0, 0.1, 0.49, 0.5, 0.9, 0.99):
        for t in tiles(1024, 1024, TilePlan(core=256), phase=(phase, phase)):
            assert 256 // 3 <= t.y1 - t.y0 <= 256 and 256 // 3 <= t.x1 - t.x0 <= 256


def test_tiled_grams_match_whole_picture(vgg: VGG19) -> None:
    image = to_tensor(synthetic_rgb(128, 160, 2))
    with torch.no_grad():
        whole = {n: gram(f) for n, f in vgg(image).items() if n in LAYERS}
    parts = tiled_grams(vgg, image, LAYERS, TilePlan(core=64, margin=48), "fp32")
    for n in LAYERS:
        rel = float((parts[n] - whole[n]).norm() / whole[n].norm())
        assert rel < 0.08, (n, rel)


def test_tiled_loss_and_gradient_match_untiled(vgg: VGG19) -> None:
    content = to_tensor(synthetic_rgb(128, 128, 1))
    style = to_tensor(stripes(128, 128))
    cfg = TransferConfig()
    cw, sw = cfg.weights()
    untiled = TransferObjective(vgg, content=content, styles=[style], style_mix=style_mix(cfg, 1),
                                content_layers=cfg.content_layers, style_layers=LAYERS,
                                style_layer_weights=None, content_weight=cw, style_weight=sw)
    with torch.no_grad():
        grams = {n: gram(f) for n, f in vgg(style).items() if n in LAYERS}
    plan = TilePlan(core=64, margin=48)
    tiled = TiledObjective(vgg, content=content, style_grams=grams,
                           content_layers=cfg.content_layers, style_layers=LAYERS,
                           style_layer_weights=None, content_weight=cw, style_weight=sw,
                           tv_weight=0.0, plan=plan, precision="fp32",
                           generator=torch.Generator().manual_seed(0))
    x = (0.7 * content + 0.3 * torch.rand_like(content)).requires_grad_(True)
    loss, _ = untiled(x)
    loss.backward()
    assert x.grad is not None
    t_loss, t_grad, parts = tiled.evaluate(x.detach())
    assert float(t_loss) == pytest.approx(float(loss.detach()), rel=0.1)
    cosine = torch.nn.functional.cosine_similarity(t_grad.flatten(), x.grad.flatten(), dim=0)
    assert float(cosine) > 0.9
    assert set(parts) == {"style", "content"}


def test_tiled_and_untiled_runs_agree(vgg: VGG19) -> None:
    inputs = TransferInputs(content=to_tensor(synthetic_rgb(192, 256, 1)),
                            styles=[to_tensor(stripes(96, 96))])
    cfg = TransferConfig(size=256, iterations=8, scales=1)
    plain = run_transfer(vgg, inputs, cfg, seed=0, precision="fp32")
    # A budget this small gives the smallest tiles (128 px cores): 2 x 2 of them, moving.
    assert plan_tiles(192, 256, 1 << 20, "fp32") == TilePlan(core=128)
    tiled = run_transfer(vgg, inputs, cfg, seed=0, precision="fp32", memory_budget=1 << 20)
    assert tiled.shape == plain.shape
    assert float((tiled - plain).abs().mean()) < 0.03


def test_plan_follows_the_budget() -> None:
    assert plan_tiles(512, 512, 8 << 30, "bf16") is None
    small = plan_tiles(4096, 4096, 4 << 30, "bf16")
    large = plan_tiles(4096, 4096, 12 << 30, "bf16")
    assert small is not None and large is not None and small.core < large.core
    assert small.core % 16 == 0


def test_memory_option_parsing() -> None:
    assert parse_memory("8GB") == 8 << 30
    assert parse_memory("512mb") == 512 << 20
    assert parse_memory("6") == 6 << 30
    assert parse_memory("auto") is None
    for bad in ("lots", "1MB", "-3GB"):
        with pytest.raises(InvalidOption):
            parse_memory(bad)
    with pytest.raises(InvalidOption):
        TransferConfig(max_memory="huge")


def test_tiling_refuses_what_it_does_not_support(vgg: VGG19) -> None:
    inputs = TransferInputs(content=to_tensor(synthetic_rgb(96, 128, 1)),
                            styles=[to_tensor(stripes(96, 96))])
    cfg = TransferConfig(size=128, iterations=2, scales=1, style_loss="meancov")
    with pytest.raises(InvalidOption, match="tiled optimisation does not support"):
        run_transfer(vgg, inputs, cfg, seed=0, precision="fp32", memory_budget=1 << 20)
