"""Optimisation-based style transfer (Gatys et al. 2016) over a coarse-to-fine pyramid."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from impasto.config import TransferConfig
from impasto.features.vgg import VGG19
from impasto.image import color
from impasto.optim.engine import EngineOptions, StepHook, optimise
from impasto.optim.events import CallbackLike, CancelToken, Progress
from impasto.optim.objective import TransferObjective
from impasto.optim.pyramid import fit_long_side, scale_sides, split_steps

#: Style images are never resized below this long side (relu5_1 would see 4 x 4 positions).
MIN_STYLE_SIDE = 64


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Antialiased bicubic resize of a (B, C, H, W) tensor in [0, 1]."""
    if tuple(image.shape[-2:]) == size:
        return image
    out = F.interpolate(image, size=size, mode="bicubic", align_corners=False, antialias=True)
    return out.clamp(0.0, 1.0)


def _grey3(image: torch.Tensor) -> torch.Tensor:
    return color.luminance(image).expand(-1, 3, -1, -1)


@dataclass(frozen=True)
class TransferInputs:
    """Pictures of one run as float (1, 3, H, W) tensors in [0, 1] on the target device."""

    content: torch.Tensor
    styles: Sequence[torch.Tensor]
    init: torch.Tensor | None = None


def output_size(content: torch.Tensor, long_side: int) -> tuple[int, int]:
    return fit_long_side(content.shape[-2], content.shape[-1], long_side)


def run_transfer(
    vgg: VGG19,
    inputs: TransferInputs,
    cfg: TransferConfig,
    *,
    seed: int,
    precision: str,
    callback: CallbackLike | None = None,
    cancel: CancelToken | None = None,
) -> torch.Tensor:
    """Render ``inputs.content`` in the style of ``inputs.styles``; return (1, 3, h, w) in [0, 1].

    The result of each scale, upsampled, initialises the next, so large outputs start from a
    converged layout and need few steps at full resolution.
    """
    started = time.perf_counter()
    device = inputs.content.device
    content, styles = inputs.content, list(inputs.styles)
    if cfg.preserve_color == "histogram":
        # Gatys et al. (2016, "Preserving Color ..."), colour histogram matching: recolour
        # the style to the content first.
        styles = [color.match_color_histogram(s, content) for s in styles]
    elif cfg.preserve_color == "luminance":
        # Gatys et al. (2016, "Preserving Color ..."), luminance-only transfer: work on
        # luminance, keep the content's chroma. The style's luminance is matched to the
        # content's mean and spread.
        content_y = color.luminance(content)
        styles = [
            color.match_luminance_stats(color.luminance(s), content_y).expand(-1, 3, -1, -1)
            for s in styles
        ]
        content = _grey3(inputs.content)
    blend = list(cfg.style_blend) if cfg.style_blend else [1.0] * len(styles)
    content_weight, style_weight = cfg.weights()

    final_h, final_w = output_size(content, cfg.size)
    sides = scale_sides(cfg.size, cfg.scales)
    steps = split_steps(sides, cfg.iterations)
    sizes = [fit_long_side(final_h, final_w, side) for side in sides]
    total_steps = sum(steps)

    generator = torch.Generator().manual_seed(seed)
    x = _initial_image(cfg.init, inputs, content, sizes[0], generator, device,
                       luminance_only=cfg.preserve_color == "luminance")
    reporter = _Reporter(callback, cfg, inputs.content, started, len(sizes), total_steps,
                         float(sum(n * h * w for n, (h, w) in zip(steps, sizes, strict=True))))
    options = EngineOptions(optimizer=cfg.optimizer, learning_rate=cfg.learning_rate)

    for index, ((h, w), n_steps) in enumerate(zip(sizes, steps, strict=True), start=1):
        x = resize(x, (h, w))
        style_side = max(MIN_STYLE_SIDE, round(cfg.style_scale * max(h, w)))
        objective = TransferObjective(
            vgg,
            content=resize(content, (h, w)),
            styles=[resize(s, fit_long_side(s.shape[-2], s.shape[-1], style_side))
                    for s in styles],
            style_blend=blend,
            content_layers=cfg.content_layers,
            style_layers=cfg.style_layers,
            style_layer_weights=cfg.style_layer_weights,
            content_weight=content_weight,
            style_weight=style_weight,
            tv_weight=cfg.tv_weight,
            precision=precision,
        )

        hook = reporter.scale(index, n_steps, h, w) if callback is not None else None
        x = optimise(objective, x, n_steps, options=options, on_step=hook, cancel=cancel)
        del objective
    return _finish(x, inputs.content, cfg)


class _Reporter:
    """Turns the engine's per-step hook into :class:`Progress` events for the whole pyramid."""

    def __init__(self, callback: CallbackLike | None, cfg: TransferConfig, content: torch.Tensor,
                 started: float, n_scales: int, total_steps: int, work_total: float) -> None:
        self.callback = callback
        self.cfg = cfg
        self.content = content
        self.started = started
        self.n_scales = n_scales
        self.total_steps = total_steps
        self.work_total = work_total or 1.0
        self.done_steps = 0
        self.done_work = 0.0

    def scale(self, index: int, n_steps: int, h: int, w: int) -> StepHook:
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
            ))

        return hook


def _finish(x: torch.Tensor, content: torch.Tensor, cfg: TransferConfig) -> torch.Tensor:
    x = x.clamp(0.0, 1.0)
    if cfg.preserve_color == "luminance":
        return color.transfer_luminance(x, content)
    return x


def _initial_image(
    init: str,
    inputs: TransferInputs,
    content: torch.Tensor,
    size: tuple[int, int],
    generator: torch.Generator,
    device: torch.device,
    *,
    luminance_only: bool,
) -> torch.Tensor:
    if init == "content":
        return resize(content, size)
    if init == "noise":
        # Gatys et al. (2016) start from white noise; we draw it on the CPU so that a seed gives
        # the same picture on every device.
        noise = torch.rand((1, 3, *size), generator=generator)
        if luminance_only:
            noise = noise[:, :1].expand(-1, 3, -1, -1)
        return noise.to(device)
    if inputs.init is None:
        raise ValueError("init image missing")  # the API loads it; a bug if we get here
    image = resize(inputs.init, size)
    return _grey3(image) if luminance_only else image
