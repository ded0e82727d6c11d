"""Distilling VGG-19 (up to ``relu4_1``) into a thin encoder (Wang et al. 2020), on the
per-style trainer's infrastructure (seeded crops, checkpoints with exact resume, previews).

The student (:class:`impasto.models.student.StudentEncoder`) learns to predict the teacher's
``relu4_1`` features: the relative squared error of the features, plus the relative error of
their channel means and deviations (the statistics AdaIN moves), on crops of photos and
paintings alike, since the encoder reads style pictures too. The AdaIN decoder is then distilled
onto the student's features with ``impasto train-decoder --encoder ... --teacher ...``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch

from impasto.config import EncoderConfig
from impasto.events import CancelToken
from impasto.features.vgg import VGG19
from impasto.image.io import to_tensor
from impasto.losses import functional as LF
from impasto.models.registry import architecture
from impasto.models.store import StyleModel, load_model, save_model
from impasto.runtime.precision import autocast, resolve_precision
from impasto.training.data import CropBatches, load_rgb
from impasto.training.decoder import mean_std_loss
from impasto.training.trainer import (
    TrainProgress,
    TrainResult,
    _load_checkpoint,
    _write_preview,
    model_info,
    on_device,
    prepare_run,
    start_from,
    training_loop,
)

LAYER = "relu4_1"
RESUME_KEYS = ("width", "size", "batch", "seed")
#: The shipped decoder that shows, in the previews, what the student's features hold.
PREVIEW_DECODER = "adain-relu4_1"


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor,
                      stats_weight: float) -> tuple[torch.Tensor, dict[str, float]]:
    """Relative feature error plus ``stats_weight`` times the relative error of the channel
    means and deviations (the AdaIN decoder's style loss)."""
    features = LF.relative_sq_error(student.float(), teacher.float())
    stats = mean_std_loss(student.float(), teacher.float())
    loss = features + stats_weight * stats
    return loss, {"features": float(features.detach()), "stats": float(stats.detach())}


class EncoderTrainer:
    """An encoder distillation run, checked and prepared; :meth:`run` trains."""

    def __init__(self, data: str | os.PathLike[str], output: str | os.PathLike[str],
                 config: EncoderConfig | None = None, *, device: torch.device | str = "cpu",
                 resume: bool = False, name: str | None = None) -> None:
        cfg = config or EncoderConfig()
        self.cfg, self.dev, self.out, self.name = cfg, torch.device(device), Path(output), name
        self.data = Path(data)
        self.files, self.held_out = prepare_run(data, cfg.holdout, self.out, resume)
        self.precision = resolve_precision(cfg.precision, self.dev)
        torch.manual_seed(cfg.seed)
        self.arch = architecture("student")
        self.params = {"width": cfg.width}
        self.net = on_device(self.arch.build(**self.params), self.dev).train()
        self.init = start_from(self, self.arch.name, self.params, resume)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.learning_rate)
        self.start = (_load_checkpoint(self.out, self.net, self.opt, cfg, self.dev, RESUME_KEYS)
                      if resume else 0)
        self.teacher = on_device(VGG19([LAYER]), self.dev)
        self.batches = CropBatches(self.files, size=cfg.size, batch=cfg.batch, seed=cfg.seed)
        self.previews = [to_tensor(load_rgb(p, cfg.size)) for p in self.held_out]
        self._decoder: StyleModel | None = None

    def _loss(self, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        x = on_device(self.batches.batch_at(step), self.dev)
        with torch.no_grad(), autocast(self.precision, self.dev):
            target = self.teacher(x)[LAYER].float()
        return distillation_loss(self.net(x), target, self.cfg.stats_weight)

    @torch.no_grad()
    def _preview(self, step: int) -> Path:
        if self._decoder is None:
            self._decoder = load_model(PREVIEW_DECODER, self.dev)
        self.net.eval()
        decoder = self._decoder.net
        return _write_preview(self.out, self.previews, step,
                              lambda p: decoder(self.net(p.to(self.dev))))

    def run(self, callback: Callable[[TrainProgress], None] | None = None,
            cancel: CancelToken | None = None, time_limit: float | None = None) -> TrainResult:
        run = training_loop(self, callback, cancel, time_limit)
        step, losses, seconds, _ = run
        info = model_info(self, "distilled encoder: predicts VGG-19's relu4_1 (Wang et al. "
                          "2020)", run, mode="distillation", teacher=f"VGG-19 {LAYER}",
                          init=self.init)
        save_model(self.out, self.net.eval(), self.arch.name, self.params, info)
        return TrainResult(folder=self.out, steps=step, seconds=seconds, losses=losses)


def train_encoder(data: str | os.PathLike[str], output: str | os.PathLike[str],
                  config: EncoderConfig | None = None, *,
                  device: torch.device | str = "cpu", resume: bool = False,
                  callback: Callable[[TrainProgress], None] | None = None,
                  cancel: CancelToken | None = None, name: str | None = None,
                  time_limit: float | None = None) -> TrainResult:
    """Distil VGG-19 up to relu4_1 into a thin encoder on the pictures of ``data`` (for
    ``config.steps`` or ``time_limit`` seconds); write it (config.json + model.safetensors),
    checkpoints, the training log and previews to ``output``."""
    return EncoderTrainer(data, output, config, device=device, resume=resume,
                          name=name).run(callback, cancel, time_limit)

