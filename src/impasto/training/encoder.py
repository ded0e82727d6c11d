"""Distilling VGG-19 (up to ``relu4_1``) into a thin encoder (Wang et al. 2020), on the
loop every trainer shares (:mod:`impasto.training.loop`: seeded crops, checkpoints with exact
resume, previews).

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
from typing import Any

import torch

from impasto.config import EncoderConfig
from impasto.events import CancelToken
from impasto.features.vgg import VGG19
from impasto.image.io import to_tensor
from impasto.losses import functional as LF
from impasto.models.store import StyleModel, load_model, shipped_models
from impasto.runtime.precision import autocast
from impasto.training.data import CropBatches, load_rgb
from impasto.training.decoder import mean_std_loss
from impasto.training.loop import (
    RunStats,
    TrainingRun,
    TrainProgress,
    TrainResult,
    on_device,
    write_preview,
)

LAYER = "relu4_1"
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


class EncoderTrainer(TrainingRun):
    """An encoder distillation run, checked and prepared; :meth:`run` trains."""

    RESUME_KEYS = ("width", "size", "batch", "seed")
    HISTORY_KEYS = ("stats_weight", "learning_rate")

    def __init__(self, data: str | os.PathLike[str], output: str | os.PathLike[str],
                 config: EncoderConfig | None = None, *, device: torch.device | str = "cpu",
                 resume: bool = False, name: str | None = None) -> None:
        cfg = config or EncoderConfig()
        self._prepare(cfg, data, output, device, resume, name)
        self._build("student", {"width": cfg.width}, resume)
        self.teacher = on_device(VGG19([LAYER]), self.runtime)
        self.batches = CropBatches(self.files, size=cfg.size, batch=cfg.batch, seed=cfg.seed)
        self.previews = [to_tensor(load_rgb(p, cfg.size)) for p in self.held_out]
        self._decoder: StyleModel | None = None

    def _loss(self, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        x = on_device(self.batches.batch_at(step), self.runtime)
        with torch.no_grad(), autocast(self.precision, self.dev):
            target = self.teacher(x)[LAYER].float()
        return distillation_loss(self.net(x), target, self.cfg.stats_weight)

    @torch.no_grad()
    def _preview(self, step: int) -> Path:
        if self._decoder is None:
            # By its path: a local folder of the same name is not the shipped decoder.
            self._decoder = load_model(shipped_models()[PREVIEW_DECODER], self.dev)
        self.net.eval()
        decoder = self._decoder.net
        return write_preview(self.out, self.previews, step,
                              lambda p: decoder(self.net(p.to(self.dev))))

    def model_record(self, stats: RunStats) -> dict[str, Any]:
        return self.model_info("distilled encoder: predicts VGG-19's relu4_1 (Wang et al. "
                               "2020)", stats, mode="distillation", teacher=f"VGG-19 {LAYER}")


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

