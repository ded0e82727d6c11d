"""Optimisation-based style transfer (Gatys et al. 2016) over a coarse-to-fine pyramid."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from impasto.config import TransferConfig
from impasto.config.checks import check_style_number
from impasto.errors import InvalidOption
from impasto.events import CallbackLike, CancelToken, Progress
from impasto.features.vgg import VGG19
from impasto.image import color
from impasto.image.resize import (
    MIN_SIDE,
    fit_long_side,
    resize,
    resize_mask,
    smallest_long_side,
)
from impasto.losses import functional as LF
from impasto.optim.engine import EngineOptions, LbfgsMemory, StepHook, optimise
from impasto.optim.multiscale import levels_for, variables_per_pixel
from impasto.optim.objective import Region, TemporalTerm, TransferObjective, wrap_blend
from impasto.optim.prepared import prepare
from impasto.optim.pyramid import MIN_STYLE_SIDE, scale_sides, schedule
from impasto.optim.tiled import TiledTransfer, tiled_grams
from impasto.optim.tiles import TilePlan, history_size, plan_tiles, quantise, tiled_bytes
from impasto.runtime.memory import format_bytes, release_memory, resident_bytes

#: Seamless outputs have sides divisible by this (four 2x2 poolings before relu5_1), so that
#: pooling does not break the wrap-around.
WRAP_MULTIPLE = 16
#: Blocks whose style layers count as "fine" for --coarse-style / --fine-style.
FINE_BLOCKS = (1, 2)


def _grey3(image: torch.Tensor) -> torch.Tensor:
    return color.luminance(image).expand(-1, 3, -1, -1)


@dataclass(frozen=True)
class TransferInputs:
    """Pictures of one run as float tensors on the target device.

    ``content`` is (1, 3, H, W) in [0, 1], or None for texture synthesis (a ``size`` x ``size``
    square from noise). ``regions`` are (mask (1, 1, H, W) in [0, 1], 0-based style index):
    each style only where its mask is white. ``protect`` are (mask, weight): the content weight
    is multiplied by ``weight`` where the mask is white.
    """

    content: torch.Tensor | None
    styles: Sequence[torch.Tensor]
    init: torch.Tensor | None = None
    regions: Sequence[tuple[torch.Tensor, int]] = field(default_factory=tuple)
    protect: Sequence[tuple[torch.Tensor, float]] = field(default_factory=tuple)
    #: Per style, the SHA-256 under which its targets may be kept prepared (a built-in
    #: style's), or None.
    style_keys: Sequence[str | None] = field(default_factory=tuple)
    #: A video frame's temporal loss (at the output's size or any other: resized per scale).
    temporal: TemporalTerm | None = None
    #: L-BFGS's memory of the last run on a picture this size (a video's previous frame),
    #: seeding the scale of that size and updated by it.
    lbfgs_memory: LbfgsMemory | None = None


def output_size(content: torch.Tensor | None, cfg: TransferConfig) -> tuple[int, int]:
    """Final (h, w): the content's aspect at ``cfg.size``, square without content; multiples
    of :data:`WRAP_MULTIPLE` for seamless outputs."""
    if content is None:
        h = w = cfg.size
    else:
        h, w = fit_long_side(content.shape[-2], content.shape[-1], cfg.size)
    if cfg.wrap != "none":
        h, w = _align(h), _align(w)
    return h, w


def scale_size(final: tuple[int, int], side: int, cfg: TransferConfig) -> tuple[int, int]:
    h, w = fit_long_side(final[0], final[1], side)
    if cfg.wrap != "none":
        h, w = _align(h), _align(w)
    return h, w


def style_mix(cfg: TransferConfig, n_styles: int) -> dict[str, list[float]]:
    """Per style layer, the weight of each style image in its target.

    By default every layer blends the styles by ``style_blend``. With ``coarse_style`` and
    ``fine_style`` (Gatys et al. 2017, scale control) the fine layers (blocks 1-2) take one
    style and the coarse layers (blocks 3-5) the other.
    """
    blend = list(cfg.style_blend) if cfg.style_blend else [1.0] * n_styles
    if cfg.coarse_style is None or cfg.fine_style is None:
        return {layer: blend for layer in cfg.style_layers}
    for name, index in (("--coarse-style", cfg.coarse_style), ("--fine-style", cfg.fine_style)):
        check_style_number(index, n_styles, name)
    mix = {}
    for layer in cfg.style_layers:
        chosen = cfg.fine_style if int(layer[4]) in FINE_BLOCKS else cfg.coarse_style
        mix[layer] = [1.0 if i == chosen - 1 else 0.0 for i in range(n_styles)]
    return mix


def run_transfer(
    vgg: VGG19,
    inputs: TransferInputs,
    cfg: TransferConfig,
    *,
    seed: int,
    precision: str,
    callback: CallbackLike | None = None,
    cancel: CancelToken | None = None,
    memory_budget: int | None = None,
    tile_plan: TilePlan | None = None,
) -> torch.Tensor:
    """Render ``inputs.content`` in the style of ``inputs.styles``; return (1, 3, h, w) in [0, 1].

    The result of each scale, upsampled, initialises the next, so large outputs start from a
    converged layout and need few steps at full resolution. Scales whose step would not fit in
    ``memory_budget`` bytes (for the whole process: what it holds when the run starts counts)
    are optimised in tiles (:mod:`impasto.optim.tiled`); ``tile_plan`` forces tiles of that
    size at every scale larger than them.
    """
    started = time.perf_counter()
    device = inputs.styles[0].device
    room = None
    if memory_budget is not None:
        room = memory_budget - resident_bytes(device)
    content, styles = inputs.content, list(inputs.styles)
    if content is None and cfg.preserve_color != "none":
        raise InvalidOption("preserve-color needs a content image")
    if cfg.preserve_color == "histogram" and content is not None:
        # Gatys et al. (2016, "Preserving Color ..."), colour histogram matching: recolour
        # the style to the content first.
        styles = [color.match_color_histogram(s, content) for s in styles]
    elif cfg.preserve_color == "luminance" and content is not None:
        # Gatys et al. (2016, "Preserving Color ..."), luminance-only transfer: work on
        # luminance, keep the content's chroma. The style's luminance is matched to the
        # content's mean and spread.
        content_y = color.luminance(content)
        styles = [
            color.match_luminance_stats(color.luminance(s), content_y).expand(-1, 3, -1, -1)
            for s in styles
        ]
        content = _grey3(content)
    mix = style_mix(cfg, len(styles))
    for _, index in inputs.regions:
        check_style_number(index + 1, len(styles))
    content_weight, style_weight = cfg.weights()
    if content is None:
        content_weight = 0.0

    final = output_size(content, cfg)

    def plan_for(h: int, w: int) -> TilePlan | None:
        if tile_plan is not None:
            return tile_plan if tile_plan.needed(h, w) else None
        return None if room is None else plan_tiles(h, w, room, precision)

    top_plan = plan_for(*final)
    tiled = top_plan is not None
    if top_plan is not None:
        _check_tileable(cfg, inputs)
        final = (_align(final[0]), _align(final[1]))
        if tile_plan is None and memory_budget is not None and room is not None:
            needed = tiled_bytes(*final, top_plan, precision)
            if needed > room:
                raise InvalidOption(
                    f"--max-memory {format_bytes(memory_budget)} is too small for a "
                    f"{final[1]}x{final[0]} output: it needs about "
                    f"{format_bytes(needed + memory_budget - room)}")
    # The pipeline resolves ``auto`` (TransferConfig.start) and paints the AdaIN start; here,
    # without it, ``auto`` starts from the photo.
    init = "content" if cfg.init == "auto" else cfg.init
    if content is None and init == "content":
        init = "noise"
    sides = scale_sides(max(final), cfg.scales, init)
    # A coarse scale where the picture would be thinner than MIN_SIDE paints a strip: the
    # pyramid starts at the first scale that is not (the pipeline checked the finest).
    sides = [s for s in sides[:-1] if min(scale_size(final, s, cfg)) >= MIN_SIDE] + sides[-1:]
    steps = schedule(sides, cfg.iterations, init)
    sizes = [scale_size(final, side, cfg) for side in sides]
    if tiled:
        sizes = [(_align(h), _align(w)) for h, w in sizes]
    total_steps = sum(steps)

    generator = torch.Generator().manual_seed(seed)
    x = _initial_image(init, inputs, content, sizes[0], generator, device,
                       luminance_only=cfg.preserve_color == "luminance", wrap=cfg.wrap)
    reporter = _Reporter(callback, cfg, inputs.content, started, len(sizes), total_steps,
                         float(sum(n * h * w for n, (h, w) in zip(steps, sizes, strict=True))))
    options = EngineOptions(optimizer=cfg.optimizer, learning_rate=cfg.learning_rate)

    # A video's frame brings the memory of the last frame; a still carries its own up the
    # scales.
    carry = (inputs.lbfgs_memory is None and cfg.carry_curvature > 0
             and cfg.optimizer == "lbfgs" and not tiled)
    memory = LbfgsMemory(pairs=cfg.carry_curvature) if carry else inputs.lbfgs_memory
    for index, ((h, w), n_steps) in enumerate(zip(sizes, steps, strict=True), start=1):
        before = (int(x.shape[-2]), int(x.shape[-1]))
        if carry and before != (h, w):
            memory = memory.resized(before, (h, w))
        x = resize(x, (h, w), wrap=cfg.wrap)
        if (cfg.carry_detail and content is not None and index > 1 and before != (h, w)
                and not tiled):
            # The photo's band between the last scale and this one, which the picture
            # brought up from the last scale cannot have: the finer scale's steps then
            # restyle the photo's detail rather than make it again (chosen on the validation
            # pairs: experiments/NOTES.md, "Carrying the photo's detail up the scales").
            # Print sizes (tiled) skip it: it would hold more whole-picture copies.
            here = resize(content, (h, w), wrap=cfg.wrap)
            band = here - resize(resize(here, before, wrap=cfg.wrap), (h, w), wrap=cfg.wrap)
            x = (x + cfg.carry_detail * band.to(x.device, x.dtype)).clamp(0.0, 1.0)
        style_side = max(MIN_STYLE_SIDE, round((cfg.style_scale or 1.0) * max(h, w)))
        if n_steps == 0:
            continue  # nothing to optimise: the start is the result (no objective to build)
        plan = plan_for(h, w) if tiled else None
        # Tiled scales keep the content and style pictures whole in 8 bits (what the files had).
        keep = quantise if plan is not None else _identity
        # A long, thin style is read large enough to be MIN_SIDE px across at every scale.
        styles_here = [keep(resize(s, fit_long_side(
            s.shape[-2], s.shape[-1],
            max(style_side, smallest_long_side(s.shape[-2], s.shape[-1])))))
            for s in styles]
        content_here = None if content is None else keep(resize(content, (h, w)))
        hook = (reporter.scale(index, n_steps, h, w, None if plan is None else plan.core)
                if callback is not None else None)
        if plan is not None:
            runner = _tiled_transfer(vgg, cfg, content_here, styles_here, mix, plan,
                                     content_weight, style_weight, precision, generator,
                                     [(resize_mask(m, (h, w)), wt) for m, wt in inputs.protect])
            del content_here, styles_here
            if index == 1:
                x = x.clone()  # the first scale may start from the content picture itself
            x = runner.run(x, n_steps, on_visit=_visit_hook(hook, n_steps), cancel=cancel)
            del runner
        else:
            # A built-in style's targets are kept (their pictures stay as the files had them
            # only without colour preservation, which remakes the styles from the content).
            prepared = prepare(styles_here, inputs.style_keys if cfg.preserve_color == "none"
                               else (), vgg, cfg.style_layers, cfg.style_loss, precision)
            objective = scale_objective(
                vgg, cfg, content_here, prepared.styles, mix, content_weight=content_weight,
                style_weight=style_weight, precision=precision,
                regions=[Region(resize_mask(m, (h, w)), i) for m, i in inputs.regions],
                protect=[(resize_mask(m, (h, w)), wt) for m, wt in inputs.protect],
                temporal=(None if inputs.temporal is None
                          else inputs.temporal.at((h, w), device)),
            )
            prepared.keep(objective.style_targets)
            # A still's finest scale moves coarser copies of the picture too (a video's
            # frames keep the pixels alone: their memory goes on to the next frame).
            levels = (levels_for((h, w), cfg.multiscale)
                      if index == len(sizes) and inputs.lbfgs_memory is None else 0)
            scale_options = dataclasses.replace(options, levels=levels)
            if room is not None:
                # Keep the optimiser's history within the budget too (it is whole-picture
                # sized).
                history = history_size(h, w, room, precision)
                scale_options = dataclasses.replace(scale_options, lbfgs_history=min(
                    options.lbfgs_history, int(history / variables_per_pixel(levels))))
            x = optimise(objective, x, n_steps, options=scale_options, on_step=hook,
                         cancel=cancel, memory=memory)
            del objective
        if memory_budget is not None and index < len(sizes):
            release_memory()  # before the next, larger scale (a video frame has one: ~0.2 s)
    return _finish(x, inputs.content, cfg)


def scale_objective(
    vgg: VGG19,
    cfg: TransferConfig,
    content: torch.Tensor | None,
    styles: Sequence[torch.Tensor | Mapping[str, Any]],
    mix: dict[str, list[float]],
    *,
    content_weight: float,
    style_weight: float,
    precision: str,
    regions: Sequence[Region] = (),
    protect: Sequence[tuple[torch.Tensor, float]] = (),
    temporal: TemporalTerm | None = None,
) -> TransferObjective:
    """The objective of one scale, for pictures already at that scale's size."""
    return TransferObjective(
        vgg,
        content=content,
        styles=styles,
        style_mix=mix,
        content_layers=cfg.content_layers,
        style_layers=cfg.style_layers,
        style_layer_weights=cfg.style_layer_weights,
        content_weight=content_weight,
        style_weight=style_weight,
        tv_weight=cfg.tv_weight,
        detail_weight=cfg.detail if content is not None else 0.0,
        style_loss=cfg.style_loss,
        regions=regions,
        protect=protect,
        wrap=cfg.wrap,
        precision=precision,
        temporal=temporal,
    )


def _identity(image: torch.Tensor) -> torch.Tensor:
    return image


def _align(value: int) -> int:
    return max(WRAP_MULTIPLE, round(value / WRAP_MULTIPLE) * WRAP_MULTIPLE)


def _check_tileable(cfg: TransferConfig, inputs: TransferInputs) -> None:
    """Tiled optimisation covers the Gram loss with content, style blends, protect masks and
    TV."""
    unsupported = []
    if cfg.style_loss != "gram":
        unsupported.append(f"--style-loss {cfg.style_loss}")
    if inputs.regions:
        unsupported.append("--mask")
    if cfg.detail > 0:
        unsupported.append("--detail")
    if cfg.wrap != "none":
        unsupported.append("--tileable")
    if inputs.temporal is not None:
        unsupported.append("video's temporal loss")
    if unsupported:
        raise InvalidOption(
            f"this output is larger than the memory budget allows in one piece, and tiled "
            f"optimisation does not support {', '.join(unsupported)} yet; lower --size or "
            "raise --max-memory"
        )


def _tiled_transfer(vgg: VGG19, cfg: TransferConfig, content: torch.Tensor | None,
                    styles: Sequence[torch.Tensor], mix: dict[str, list[float]],
                    plan: TilePlan, content_weight: float, style_weight: float,
                    precision: str, generator: torch.Generator,
                    protect: Sequence[tuple[torch.Tensor, float]]) -> TiledTransfer:
    per_style = [tiled_grams(vgg, s, cfg.style_layers, plan, precision) for s in styles]
    targets = {n: LF.blend_grams([g[n] for g in per_style], mix[n]) for n in cfg.style_layers}
    return TiledTransfer(
        vgg, content=content, style_grams=targets, content_layers=cfg.content_layers,
        style_layers=cfg.style_layers, style_layer_weights=cfg.style_layer_weights,
        content_weight=content_weight, style_weight=style_weight, tv_weight=cfg.tv_weight,
        plan=plan, precision=precision, generator=generator, protect=protect,
    )


def _visit_hook(hook: StepHook | None, n_steps: int
                ) -> Callable[[float, float, dict[str, float], torch.Tensor], None] | None:
    """Turn a tiled scale's per-visit progress (a fraction of the scale) into step events."""
    if hook is None:
        return None
    reported = [0]

    def on_visit(fraction: float, loss: float, parts: dict[str, float],
                 image: torch.Tensor) -> None:
        reached = min(n_steps, int(fraction * n_steps + 1e-9))
        for step in range(reported[0] + 1, reached + 1):
            hook(step, loss, parts, image)
        reported[0] = max(reported[0], reached)

    return on_visit


class _Reporter:
    """Turns the engine's per-step hook into :class:`Progress` events for the whole pyramid."""

    def __init__(self, callback: CallbackLike | None, cfg: TransferConfig,
                 content: torch.Tensor | None, started: float, n_scales: int, total_steps: int,
                 work_total: float) -> None:
        self.callback = callback
        self.cfg = cfg
        self.content = content
        self.started = started
        self.n_scales = n_scales
        self.total_steps = total_steps
        self.work_total = work_total or 1.0
        self.done_steps = 0
        self.done_work = 0.0

    def scale(self, index: int, n_steps: int, h: int, w: int, tile: int | None = None
              ) -> StepHook:
        base_steps, base_work = self.done_steps, self.done_work
        self.done_steps += n_steps
        self.done_work += n_steps * h * w

        def hook(step: int, loss: float, parts: dict[str, float], image: torch.Tensor) -> None:
            if self.callback is None:
                return
            global_step = base_steps + step
            every = self.cfg.preview_every
            preview = None
            if every and (global_step % every == 0 or global_step == self.total_steps):
                preview = _finish(image, self.content, self.cfg).cpu()
            self.callback(Progress(
                stage="step", scale=index, n_scales=self.n_scales, step=global_step,
                total_steps=self.total_steps, scale_step=step, scale_steps=n_steps, height=h,
                width=w, loss=loss, losses=parts, elapsed=time.perf_counter() - self.started,
                image=preview, work_done=(base_work + step * h * w) / self.work_total,
                tile=tile,
            ))

        return hook


def _finish(x: torch.Tensor, content: torch.Tensor | None, cfg: TransferConfig) -> torch.Tensor:
    x = x.clamp(0.0, 1.0)
    if cfg.preserve_color == "luminance" and content is not None:
        if cfg.wrap != "none":  # the chroma too must meet across the wrap
            content = wrap_blend(resize(content, (x.shape[-2], x.shape[-1])), cfg.wrap)
        return color.transfer_luminance(x, content)
    return x


def _initial_image(
    init: str,
    inputs: TransferInputs,
    content: torch.Tensor | None,
    size: tuple[int, int],
    generator: torch.Generator,
    device: torch.device,
    *,
    luminance_only: bool,
    wrap: str,
) -> torch.Tensor:
    if init == "content" and content is not None:
        # Seamless outputs start from a picture whose wrapped edges already meet.
        return wrap_blend(resize(content, size), wrap)
    if init == "noise":
        # Gatys et al. (2016) start from white noise; we draw it on the CPU so that a seed gives
        # the same picture on every device.
        noise = torch.rand((1, 3, *size), generator=generator)
        if luminance_only:
            noise = noise[:, :1].expand(-1, 3, -1, -1)
        return noise.to(device)
    if inputs.init is None:
        raise InvalidOption(f"init {init!r} needs its start picture (TransferInputs.init)")
    # A start picture (the AdaIN picture, a file) is joined across the wrap like the photo.
    image = wrap_blend(resize(inputs.init, size, wrap=wrap), wrap)
    return _grey3(image) if luminance_only else image
