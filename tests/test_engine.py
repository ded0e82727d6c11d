"""The optimisation engine, the pyramid and the progress/cancel machinery."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
import torch

from impasto.config import TransferConfig
from impasto.errors import Cancelled, Diverged
from impasto.events import CancelToken, Progress
from impasto.features import VGG19
from impasto.optim.engine import EngineOptions, LbfgsMemory, optimise
from impasto.optim.multiscale import Multiscale
from impasto.optim.pyramid import (
    auto_scales,
    scale_sides,
    schedule,
    split_steps,
)
from impasto.optim.transfer import TransferInputs, run_transfer
from tests.conftest import stripes, synthetic_rgb, to_tensor

LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"]


@pytest.fixture(scope="module")
def vgg() -> VGG19:
    return VGG19(LAYERS)


def _inputs() -> TransferInputs:
    return TransferInputs(content=to_tensor(synthetic_rgb(48, 64, 1)),
                          styles=[to_tensor(stripes(64, 64))])


def _losses(vgg: VGG19, cfg: TransferConfig) -> list[float]:
    seen: list[float] = []
    run_transfer(vgg, _inputs(), cfg, seed=0, precision="fp32",
                 callback=lambda e: seen.append(e.loss))
    return seen


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_a_few_steps_lower_the_loss(vgg: VGG19, optimizer: str) -> None:
    cfg = TransferConfig(size=64, iterations=12, scales=1, optimizer=optimizer,
                         learning_rate=0.05)
    losses = _losses(vgg, cfg)
    assert len(losses) == 12
    assert losses[-1] < 0.7 * losses[0]


def test_seed_reproduces_the_picture(vgg: VGG19) -> None:
    cfg = TransferConfig(size=48, iterations=6, scales=2, init="noise")
    a = run_transfer(vgg, _inputs(), cfg, seed=123, precision="fp32")
    b = run_transfer(vgg, _inputs(), cfg, seed=123, precision="fp32")
    c = run_transfer(vgg, _inputs(), cfg, seed=124, precision="fp32")
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_progress_events_cover_every_scale_and_previews(vgg: VGG19) -> None:
    events: list[Progress] = []
    cfg = TransferConfig(size=64, iterations=9, scales=3, preview_every=4)
    out = run_transfer(vgg, _inputs(), cfg, seed=0, precision="fp32", callback=events.append)
    assert [e.step for e in events] == list(range(1, 10))
    assert sorted({e.scale for e in events}) == [1, 2, 3]
    assert events[-1].work_done == pytest.approx(1.0)
    assert all(a.work_done < b.work_done for a, b in itertools.pairwise(events))
    previews = [e.step for e in events if e.image is not None]
    assert previews == [4, 8, 9]
    assert out.shape == (1, 3, 48, 64)
    assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_cancel_stops_the_run(vgg: VGG19) -> None:
    token = CancelToken()

    def cancel_at_3(event: Progress) -> None:
        if event.step == 3:
            token.cancel()

    with pytest.raises(Cancelled):
        run_transfer(vgg, _inputs(), TransferConfig(size=48, iterations=10, scales=1), seed=0,
                     precision="fp32", callback=cancel_at_3, cancel=token)


def _quadratic(target: torch.Tensor, nan_at: set[int]):
    calls = {"n": 0}

    def objective(x: torch.Tensor):
        calls["n"] += 1
        loss = ((x - target) ** 2).sum()
        if calls["n"] in nan_at:
            loss = loss * float("nan")
        return loss, {"q": float(loss.detach())}

    return objective


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_divergence_is_recovered(optimizer: str) -> None:
    target = torch.full((1, 3, 4, 4), 0.7)
    objective = _quadratic(target, nan_at={3})
    out = optimise(objective, torch.zeros_like(target), 80,
                   options=EngineOptions(optimizer=optimizer, learning_rate=0.1))
    assert torch.isfinite(out).all()
    assert float((out - target).abs().max()) < 0.05


def test_persistent_divergence_is_reported() -> None:
    target = torch.full((1, 3, 4, 4), 0.7)
    objective = _quadratic(target, nan_at=set(range(1, 100)))
    with pytest.raises(Diverged, match="diverged"):
        optimise(objective, torch.zeros_like(target), 10, options=EngineOptions())


def test_pyramid_sizes_and_step_split() -> None:
    assert scale_sides(512, 1) == [512]
    assert scale_sides(512, 3)[-1] == 512
    sides = scale_sides(2048, 0)
    assert sides[0] >= 192 and sides[-1] == 2048
    assert all(b <= 2 * a + 1 for a, b in itertools.pairwise(sides))
    assert auto_scales(128) == 1
    steps = split_steps([128, 256, 512], 300)
    assert sum(steps) == 300 and steps[0] > steps[1] > steps[2] > 0
    assert split_steps([64], 0) == [0]


def test_the_progressive_schedule() -> None:
    """From the AdaIN start: 60 steps at the coarsest scale, 20 at each middle one, 39 at the
    finest; a given total is shared in those proportions. From the photo: 300 by 1/side."""
    assert schedule([128, 256, 512], None, "adain") == [60, 20, 39]
    assert schedule([128, 256, 512, 1024], None, "adain") == [60, 20, 20, 39]
    assert schedule([96], None, "adain") == [99]
    assert schedule([128, 256], None, "adain") == [60, 39]
    shared = schedule([128, 256, 512], 238, "adain")
    assert sum(shared) == 238 and shared == [120, 40, 78]
    assert schedule([192, 314, 512], None, "content") == split_steps([192, 314, 512], 300)
    assert schedule([192, 314, 512], 30, "noise") == split_steps([192, 314, 512], 30)


def test_the_adain_start_paints_a_coarser_first_scale(vgg: VGG19) -> None:
    """From the AdaIN start the pyramid begins at about 128 px (the start already has the
    photo's structure); from the photo at about 192 px, as before."""
    assert scale_sides(512, 0, "adain") == [128, 256, 512]
    assert scale_sides(512, 0) == [192, 314, 512]
    first: dict[str, tuple[int, int]] = {}
    for init in ("adain", "content"):
        inputs = TransferInputs(content=to_tensor(synthetic_rgb(96, 128, 1)),
                                styles=[to_tensor(stripes(64, 64))],
                                init=to_tensor(synthetic_rgb(96, 128, 2)))
        cfg = TransferConfig(size=256, iterations=4, init=init)
        seen: list[tuple[int, int, int]] = []
        run_transfer(vgg, inputs, cfg, seed=0, precision="fp32",
                     callback=lambda e, seen=seen: seen.append((e.scale, e.height, e.width)))
        first[init] = min(seen)[1:]
        assert max(seen)[1:] == (192, 256)
    assert first == {"adain": (96, 128), "content": (144, 192)}


def test_large_output_keeps_aspect_ratio(vgg: VGG19) -> None:
    cfg = TransferConfig(size=80, iterations=0)
    out = run_transfer(vgg, _inputs(), cfg, seed=0, precision="fp32")
    assert out.shape[-2:] == (60, 80)
    assert math.isclose(out.shape[-1] / out.shape[-2], 64 / 48, rel_tol=0.02)


def test_bf16_autocast_reaches_a_similar_loss(vgg: VGG19) -> None:
    cfg = TransferConfig(size=64, iterations=15, scales=1)
    fp32 = run_transfer(vgg, _inputs(), cfg, seed=0, precision="fp32")
    bf16 = run_transfer(vgg, _inputs(), cfg, seed=0, precision="bf16")
    assert bf16.dtype == torch.float32
    # Same picture to within a few grey levels on average.
    assert float((fp32 - bf16).abs().mean()) < 0.05


def test_lbfgs_memory_lets_the_next_frame_take_a_full_first_step(vgg: VGG19) -> None:
    """A frame's run seeded with what L-BFGS learnt on the frame before goes further in the
    same steps than a fresh one (whose first step is a tiny gradient step); the memory saved
    as arrays and restored seeds the same run exactly."""
    photo = synthetic_rgb(48, 64, 1)
    style = [to_tensor(stripes(64, 64))]
    cfg = TransferConfig(size=64, iterations=4, scales=1, init="content")
    memory = LbfgsMemory(pairs=3)
    first = run_transfer(vgg, TransferInputs(content=to_tensor(photo), styles=style,
                                             lbfgs_memory=memory),
                         cfg, seed=0, precision="fp32")
    assert memory.scale is not None and len(memory.steps) == len(memory.changes) == 3
    moved = to_tensor(np.roll(photo, 2, axis=1))  # the next frame: the scene moved

    def next_frame(carried: LbfgsMemory | None) -> tuple[list[float], torch.Tensor]:
        seen: list[float] = []
        out = run_transfer(vgg, TransferInputs(content=moved, styles=style,
                                               init=torch.roll(first, 2, dims=-1),
                                               lbfgs_memory=carried),
                           cfg.replace(iterations=3, init="adain"), seed=0, precision="fp32",
                           callback=lambda e: seen.append(e.loss))
        return seen, out

    fresh, _ = next_frame(None)
    saved = memory.state()
    seeded, out = next_frame(memory)
    assert fresh[0] == pytest.approx(seeded[0])  # the same start
    assert fresh[1] > 0.99 * fresh[0]  # a fresh first step barely moves
    assert seeded[2] < fresh[2] and seeded[1] < 0.98 * seeded[0]
    again = LbfgsMemory(pairs=3)
    again.restore(saved)
    _, repeat = next_frame(again)
    assert torch.equal(out, repeat)


def test_carried_detail_brings_the_photos_fine_detail_to_the_finer_scales(vgg: VGG19) -> None:
    """With the photo's band between the scales added each time the picture moves up, the
    finished picture's finest detail follows the photo's far more closely than the same run's
    without (from the photo and from noise); a single scale has nothing to carry."""
    from PIL import Image

    from impasto.image.samples import demo_content

    photo = np.array(Image.fromarray(demo_content()).resize((128, 84)))
    inputs = TransferInputs(content=to_tensor(photo), styles=[to_tensor(stripes(64, 64))])

    def fine(x: torch.Tensor) -> torch.Tensor:  # what a 3x3 blur takes away
        return (x - torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1,
                                                   count_include_pad=False)).flatten()

    def follows(init: str, carry: float, scales: int = 3) -> tuple[float, torch.Tensor]:
        cfg = TransferConfig(size=128, iterations=24, scales=scales, init=init,
                             carry_detail=carry)
        out = run_transfer(vgg, inputs, cfg, seed=0, precision="fp32")
        corr = torch.corrcoef(torch.stack([fine(out), fine(inputs.content)]))[0, 1]
        return float(corr), out

    for init in ("content", "noise"):
        without, _ = follows(init, 0.0)
        carried, _ = follows(init, 1.0)
        assert carried > without + 0.1, (init, without, carried)
    _, one = follows("content", 0.0, scales=1)
    _, one_carried = follows("content", 1.0, scales=1)
    assert torch.equal(one, one_carried)


def test_carried_curvature_lets_each_finer_scale_take_a_full_first_step(vgg: VGG19) -> None:
    """With L-BFGS's memory carried up the pyramid (its pairs enlarged as the picture is),
    each finer scale's first step is a quasi-Newton one; afresh, it is a tiny gradient step.
    The finished picture is further down the objective; one scale has nothing to carry."""

    def run(carry: int, scales: int = 2) -> tuple[dict[int, list[float]], torch.Tensor]:
        seen: dict[int, list[float]] = {}
        cfg = TransferConfig(size=96, iterations=16, scales=scales, init="content",
                             carry_detail=0.0, carry_curvature=carry)
        out = run_transfer(vgg, _inputs(), cfg, seed=0, precision="fp32",
                           callback=lambda e: seen.setdefault(e.scale, []).append(e.loss))
        return seen, out

    fresh, _ = run(0)
    carried, _ = run(5)
    assert fresh[1] == carried[1]  # the coarsest scale starts afresh either way
    assert fresh[2][0] == pytest.approx(carried[2][0])  # and the finer from the same picture
    assert fresh[2][1] > 0.99 * fresh[2][0]
    assert carried[2][1] < 0.97 * carried[2][0]
    assert carried[2][-1] < fresh[2][-1]
    _, one = run(0, scales=1)
    _, one_carried = run(5, scales=1)
    assert torch.equal(one, one_carried)


def test_lbfgs_memory_resized_keeps_its_curvature() -> None:
    """Enlarging a memory's pairs to four times the pixels keeps each pair's curvature
    (y.s) and multiplies the scale by four; a pair without positive curvature is dropped."""
    grid = torch.linspace(0.0, 1.0, 8)
    s = (torch.sin(3 * grid)[:, None] + grid[None, :]).repeat(3, 1, 1).flatten()  # smooth
    memory = LbfgsMemory(pairs=2, numel=s.numel(), scale=3.0, steps=[s, s],
                         changes=[0.5 * s, -s], inverse=[1 / float(0.5 * s @ s), 0.0])
    big = memory.resized((8, 8), (16, 16))
    assert big.numel == 3 * 16 * 16 and big.scale == pytest.approx(12.0)
    assert len(big.steps) == len(big.changes) == len(big.inverse) == 1
    assert float(big.changes[0] @ big.steps[0]) == pytest.approx(float(0.5 * s @ s), rel=0.1)
    assert LbfgsMemory().resized((8, 8), (16, 16)).scale is None


def test_multiscale_variables_make_the_picture_and_keep_each_pairs_curvature() -> None:
    """The variables start as the picture itself; a gradient moved to them is the adjoint of
    the picture they make (<P^T g, z> = <g, P z>), so a carried pair keeps its y.s."""
    torch.manual_seed(0)
    init = torch.rand(1, 3, 20, 28)
    space = Multiscale(init, 2)
    assert [tuple(v.shape[-2:]) for v in space.variables] == [(20, 28), (10, 14), (5, 7)]
    assert torch.equal(space.picture().detach(), init)
    z = [torch.randn_like(v) for v in space.variables]
    kept = space.variables
    space.variables = z
    pz = space.picture()
    space.variables = kept
    g = torch.randn(init.numel())
    assert float(space.gradient(g) @ torch.cat([v.flatten() for v in z])) == pytest.approx(
        float(g @ pz.flatten()), rel=1e-4)
    s = torch.randn(init.numel())
    assert float(space.gradient(g) @ space.step(s)) == pytest.approx(float(g @ s), rel=1e-5)
    plain = Multiscale(init, 0)
    assert plain.numel == init.numel() and torch.equal(plain.gradient(g), g)


def test_multiscale_moves_broad_changes_in_fewer_steps() -> None:
    """On an objective stiff in fine detail (a strong smoothness term) and soft in broad
    changes, L-BFGS over the picture and its coarser copies gets further in the same steps
    than over the pixels alone; with the steps to converge both reach the same picture."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    target = (0.5 + 0.4 * torch.sin(3 * xx) * torch.cos(2 * yy)).expand(1, 3, 32, 32)

    def objective(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        smooth = ((x[..., 1:, :] - x[..., :-1, :]) ** 2).sum() + \
            ((x[..., :, 1:] - x[..., :, :-1]) ** 2).sum()
        return 0.01 * ((x - target) ** 2).sum() + smooth, {}

    def loss_after(steps: int, levels: int) -> tuple[float, torch.Tensor]:
        out = optimise(objective, torch.zeros_like(target), steps,
                       options=EngineOptions(levels=levels))
        return float(objective(out)[0]), out

    best, a = loss_after(400, 0)
    best_multi, b = loss_after(400, 2)
    assert float((a - b).abs().max()) < 0.01 and best_multi == pytest.approx(best, abs=1e-4)
    plain, _ = loss_after(12, 0)
    multi, _ = loss_after(12, 2)
    # Above the optimum after 12 steps (measured: 0.124 over the pixels, 0.024 with copies).
    assert multi - best < 0.5 * (plain - best), (plain, multi, best)


def test_a_stills_finest_scale_moves_coarser_copies_and_a_videos_does_not(vgg: VGG19) -> None:
    """``multiscale`` changes a still's picture (its finest scale moves coarser copies too);
    a run with L-BFGS's memory of a previous frame keeps the pixels alone and keeps the
    memory of them for the next frame."""
    inputs = TransferInputs(content=to_tensor(synthetic_rgb(96, 128, 1)),
                            styles=[to_tensor(stripes(64, 64))])

    def still(levels: int) -> torch.Tensor:
        cfg = TransferConfig(size=128, iterations=12, scales=2, init="content",
                             multiscale=levels)
        return run_transfer(vgg, inputs, cfg, seed=0, precision="fp32")

    assert float((still(3) - still(0)).abs().mean()) > 1e-3
    frames = []
    for levels in (3, 0):
        memory = LbfgsMemory(pairs=5)
        cfg = TransferConfig(size=128, iterations=6, scales=1, init="content",
                             multiscale=levels)
        frame = dataclasses.replace(inputs, lbfgs_memory=memory)
        frames.append(run_transfer(vgg, frame, cfg, seed=0, precision="fp32"))
        assert memory.numel == 3 * 96 * 128 and memory.scale is not None
    assert torch.equal(frames[0], frames[1])
