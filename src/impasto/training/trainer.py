"""Training a per-style feed-forward network (Johnson et al. 2016) on our VGG-19.

The perceptual loss is the optimiser's: relative content loss on the content layers, relative
Gram loss against the style's Gram matrices (computed once), optional TV. Adam on the network's
weights; bf16 autocast for VGG where the runtime policy chooses it (the network and the loss
stay float32). The loop, checkpoints and exact resume are shared with the other trainers
(:mod:`impasto.training.loop`, :mod:`impasto.training.checkpoint`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from impasto.config import TrainConfig
from impasto.events import CancelToken
from impasto.features.vgg import VGG19
from impasto.losses import functional as LF
from impasto.models.registry import architecture
from impasto.models.store import sha256_file
from impasto.runtime.precision import autocast
from impasto.training.data import CropBatches, load_rgb
from impasto.training.loop import (
    RunStats,
    TrainingRun,
    TrainProgress,
    TrainResult,
    on_device,
    write_preview,
)

__all__ = ["TrainProgress", "TrainResult", "Trainer", "resolve_shape", "train"]


def resolve_shape(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with ``width`` at 0 ("the architecture's own") replaced by the architecture's
    value, so that checkpoints and model records say what was trained."""
    own = architecture(cfg.arch).defaults()
    return cfg if cfg.width or "width" not in own else cfg.replace(width=own["width"])


class Trainer(TrainingRun):
    """A training run, checked and prepared (bad data, options or checkpoints raise here,
    before any work); :meth:`run` trains."""

    RESUME_KEYS = ("arch", "width", "size", "batch", "style_size", "seed", "content_layers",
                   "style_layers")
    HISTORY_KEYS = ("style_weight", "tv_weight", "loss_form", "learning_rate")

    def __init__(
        self,
        style: str | os.PathLike[str],
        data: str | os.PathLike[str],
        output: str | os.PathLike[str],
        config: TrainConfig | None = None,
        *,
        device: torch.device | str = "cpu",
        resume: bool = False,
        name: str | None = None,
    ) -> None:
        from impasto.image.io import open_image, to_tensor

        cfg = resolve_shape(config or TrainConfig())
        self._prepare(cfg, data, output, device, resume, name)
        self.style = Path(style)
        style_img = open_image(style, name="style")
        scale = cfg.style_size / max(style_img.size)
        style_img = style_img.resize((max(1, round(style_img.width * scale)),
                                      max(1, round(style_img.height * scale))),
                                     resample=3)  # bicubic
        self._build(cfg.arch, cfg.arch_params, resume)
        # VGG-19 for the output (all loss layers) and for the photos (content layers only, so
        # the target pass stops early); they share the decoded weights.
        self.vgg = on_device(VGG19([*cfg.content_layers, *cfg.style_layers]), self.runtime)
        self.content_vgg = on_device(VGG19(list(cfg.content_layers)), self.runtime)
        with torch.no_grad(), autocast(self.precision, self.dev):
            feats = self.vgg(on_device(to_tensor(style_img), self.runtime))
        self.targets = {n: LF.gram(feats[n]).float() for n in cfg.style_layers}
        self.batches = CropBatches(self.files, size=cfg.size, batch=cfg.batch, seed=cfg.seed)
        self.previews = [to_tensor(load_rgb(p, cfg.size)) for p in self.held_out]

    def _loss(self, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        cfg, dev, net = self.cfg, self.dev, self.net
        x = on_device(self.batches.batch_at(step), self.runtime)
        y = net(x)
        with autocast(self.precision, dev):
            fy = self.vgg(y)
            with torch.no_grad():
                fx = self.content_vgg(x)
        dist = LF.relative_error if cfg.loss_form == "distance" else LF.relative_sq_error
        content = sum(dist(fy[n].float(), fx[n].float())
                      for n in cfg.content_layers) / len(cfg.content_layers)
        style_loss = sum(dist(LF.gram(fy[n]), self.targets[n].expand(x.shape[0], -1, -1))
                         for n in cfg.style_layers) / len(cfg.style_layers)
        loss = content + cfg.style_weight * style_loss
        parts = {"content": float(content.detach()), "style": float(style_loss.detach())}
        if cfg.tv_weight > 0:
            tv = LF.tv_loss(y)
            loss = loss + cfg.tv_weight * tv
            parts["tv"] = float(tv.detach())
        return loss, parts

    @torch.no_grad()
    def _preview(self, step: int) -> Path:
        from impasto.models.inference import run_network

        self.net.eval()
        return write_preview(self.out, self.previews, step,
                             lambda p: run_network(self.net, p.to(self.dev)))

    def model_record(self, stats: RunStats) -> dict[str, Any]:
        info = self.model_info("per-style feed-forward network (Johnson et al. 2016, "
                               "instance norm)", stats,
                               licence_of="the style picture's and the training photos'")
        info["style"] = {"file": self.style.name, "sha256": sha256_file(self.style)}
        return info


def train(
    style: str | os.PathLike[str],
    data: str | os.PathLike[str],
    output: str | os.PathLike[str],
    config: TrainConfig | None = None,
    *,
    device: torch.device | str = "cpu",
    resume: bool = False,
    callback: Callable[[TrainProgress], None] | None = None,
    cancel: CancelToken | None = None,
    name: str | None = None,
    time_limit: float | None = None,
) -> TrainResult:
    """Train a network in ``config.arch`` to paint photos of ``data`` like ``style`` (for
    ``config.steps``, or ``time_limit`` seconds if that comes first); write it (config.json +
    model.safetensors), checkpoints, the training log and previews to the ``output`` folder."""
    trainer = Trainer(style, data, output, config, device=device, resume=resume, name=name)
    return trainer.run(callback, cancel, time_limit)
