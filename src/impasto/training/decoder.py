"""Training decoders for arbitrary-style transfer, on the loop every trainer shares
(:mod:`impasto.training.loop`: seeded crops, checkpoints with exact resume, previews of
held-out photos).

Three objectives, by what is given:

- with ``styles`` (AdaIN, Huang and Belongie 2017): decode AdaIN(content, style) at the
  decoder's layer; content loss against the AdaIN target at that layer, plus the style loss on
  channel means and deviations at ``relu1_1`` ... ``relu4_1``;
- with ``styles`` and a ``teacher`` decoder (distillation, Wang et al. 2020): the target is the
  picture that VGG-19 and the teacher make of the same content and style; pixel loss plus the
  feature loss at ``relu1_1`` and ``relu2_1``. With a distilled ``encoder`` this gives a thin
  encoder-decoder pair that reproduces the full one's pictures at a fraction of its work;
- without (WCT, Li et al. 2017): the decoder learns to invert the encoder; pixel loss plus the
  feature loss at ``relu1_1`` ... the decoder's layer. No style data is needed.

The decoder's input comes from ``encoder``: VGG-19, or a distilled encoder
(:mod:`impasto.models.student`); the losses are always measured with VGG-19.

All the losses are relative (divided by the target's energy), like the optimiser's, so the weights
mean the same at every layer.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from impasto.arbitrary import transforms as T
from impasto.config import DecoderConfig
from impasto.errors import InvalidOption
from impasto.events import CancelToken
from impasto.features.vgg import VGG19
from impasto.image.io import to_tensor
from impasto.losses import functional as LF
from impasto.models.store import StyleModel, load_encoder, load_model
from impasto.runtime.precision import autocast
from impasto.training.data import CropBatches, list_images, load_rgb
from impasto.training.loop import (
    RunStats,
    TrainingRun,
    TrainProgress,
    TrainResult,
    on_device,
    write_preview,
)

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
#: Where distillation compares the student's pictures with the teacher's.
DISTIL_LAYERS = ("relu1_1", "relu2_1")


def _relative(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return LF.relative_sq_error(x.float(), target.float())


def mean_std_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Huang and Belongie's style loss on one layer, relative: squared errors of the channel
    means and deviations over the target's energy."""
    a, b = T.mean_std(features), T.mean_std(target)
    out = torch.cat([a.mean, a.std], dim=1)
    ref = torch.cat([b.mean, b.std], dim=1)
    return _relative(out, ref)


class DecoderTrainer(TrainingRun):
    """A decoder training run, checked and prepared; :meth:`run` trains."""

    RESUME_KEYS = ("layer", "width", "size", "batch", "seed", "encoder", "teacher")
    HISTORY_KEYS = ("style_weight", "pixel_weight", "feature_weight", "learning_rate")

    def __init__(self, data: str | os.PathLike[str], output: str | os.PathLike[str],
                 config: DecoderConfig | None = None, *,
                 styles: str | os.PathLike[str] | None = None,
                 device: torch.device | str = "cpu", resume: bool = False,
                 name: str | None = None) -> None:
        cfg = config or DecoderConfig()
        self._prepare(cfg, data, output, device, resume, name)
        self.style_dir = Path(styles) if styles is not None else None
        self.style_files = list_images(styles) if styles is not None else []
        self.encoder = (load_encoder(cfg.encoder, self.dev) if cfg.encoder != "vgg19" else None)
        self.teacher = _load_teacher(cfg.teacher, self.dev) if cfg.teacher else None
        for loaded in (self.encoder, self.teacher):
            if loaded is not None:
                on_device(loaded.net, self.runtime)
        if self.teacher is not None and not self.style_files:
            raise InvalidOption("--teacher distils an AdaIN decoder: give --styles too")
        self._build("decoder", {"layer": cfg.layer, "width": cfg.width}, resume)
        block = int(cfg.layer[4])
        self.loss_layers = (DISTIL_LAYERS if self.teacher is not None
                            else STYLE_LAYERS if self.style_files
                            else tuple(f"relu{k}_1" for k in range(1, block + 1)))
        self.loss_vgg = on_device(VGG19(sorted({*self.loss_layers, cfg.layer})), self.runtime)
        # Distillation compares pictures at shallow layers only: no pass to relu4_1 to train.
        self.picture_vgg = (on_device(VGG19(DISTIL_LAYERS), self.runtime)
                            if self.teacher is not None
                            else self.loss_vgg)
        self.batches = CropBatches(self.files, size=cfg.size, batch=cfg.batch, seed=cfg.seed)
        self.style_batches = (CropBatches(self.style_files, size=cfg.size, batch=cfg.batch,
                                          seed=cfg.seed + 1) if self.style_files else None)
        self.previews = [to_tensor(load_rgb(p, cfg.size)) for p in self.held_out]
        self.preview_style = (to_tensor(load_rgb(self.style_files[0], cfg.size))
                              if self.style_files else None)

    @property
    def mode(self) -> str:
        if self.teacher is not None:
            return "distillation"
        return "adain" if self.style_files else "inversion"

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        """The decoder's input features of ``x`` (VGG-19's or the distilled encoder's)."""
        with torch.no_grad(), autocast(self.precision, self.dev):
            if self.encoder is not None:
                return self.encoder.net(x).float()
            return self.loss_vgg(x)[self.cfg.layer].float()

    def _distil_loss(self, step: int, x: torch.Tensor, fx: dict[str, torch.Tensor],
                     s: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The student's picture against the teacher's, for the same content, style and
        strength. Half the pictures of a batch take strength 1, the others a strength drawn
        from [0, 1] (a function of seed and step), so the student learns the whole
        ``--strength`` range, down to reconstructing the content."""
        cfg = self.cfg
        assert self.teacher is not None
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
        alpha = torch.where(torch.rand(x.shape[0], generator=g) < 0.5, 1.0,
                            torch.rand(x.shape[0], generator=g)).view(-1, 1, 1, 1).to(self.dev)

        def mix(f: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
            return alpha * T.adain(f, T.mean_std(style)) + (1.0 - alpha) * f

        with torch.no_grad(), autocast(self.precision, self.dev):
            fs = self.loss_vgg(s)[cfg.layer].float()
            goal = self.teacher.net(mix(fx[cfg.layer].float(), fs))
            goal = goal.float().clamp(0.0, 1.0)
            f_goal = self.picture_vgg(goal)
            mine = mix(self._encode(x), self._encode(s))
        y = self.net(mine)
        with autocast(self.precision, self.dev):
            fy = self.picture_vgg(y)
        pixel = _relative(y, goal)
        feature = sum(_relative(fy[n], f_goal[n]) for n in self.loss_layers) / len(
            self.loss_layers)
        loss = cfg.pixel_weight * pixel + cfg.feature_weight * feature
        return loss, {"pixel": float(pixel.detach()), "feature": float(feature.detach())}

    def _loss(self, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.cfg
        x = on_device(self.batches.batch_at(step), self.runtime)
        with torch.no_grad(), autocast(self.precision, self.dev):
            fx = self.loss_vgg(x)  # the photo's features at every loss layer, once
        if self.teacher is not None:
            assert self.style_batches is not None
            return self._distil_loss(step, x, fx,
                                     on_device(self.style_batches.batch_at(step), self.runtime))
        f = self._encode(x) if self.encoder is not None else fx[cfg.layer].float()
        if self.style_batches is not None:
            # The style's features at every loss layer, once: relu4_1 gives the AdaIN target.
            s = on_device(self.style_batches.batch_at(step), self.runtime)
            with torch.no_grad(), autocast(self.precision, self.dev):
                fs = self.loss_vgg(s)
            style_in = self._encode(s) if self.encoder is not None else fs[cfg.layer].float()
            target = T.adain(f, T.mean_std(style_in))
            y = self.net(target)
            with autocast(self.precision, self.dev):
                fy = self.loss_vgg(y)
            content = _relative(fy[cfg.layer], target)
            style = sum(mean_std_loss(fy[n], fs[n]) for n in STYLE_LAYERS) / len(STYLE_LAYERS)
            loss = content + cfg.style_weight * style
            return loss, {"content": float(content.detach()), "style": float(style.detach())}
        y = self.net(f)
        with autocast(self.precision, self.dev):
            fy = self.loss_vgg(y)
        pixel = _relative(y, x)
        feature = sum(_relative(fy[n], fx[n]) for n in self.loss_layers) / len(self.loss_layers)
        loss = cfg.pixel_weight * pixel + cfg.feature_weight * feature
        return loss, {"pixel": float(pixel.detach()), "feature": float(feature.detach())}

    def model_record(self, stats: RunStats) -> dict[str, Any]:
        method = {"adain": "AdaIN decoder (Huang and Belongie 2017)",
                  "distillation": "AdaIN decoder distilled from a larger one (Wang et al. "
                                  "2020)",
                  "inversion": "WCT decoder: inverts the encoder (Li et al. 2017)"}[self.mode]
        return self.model_info(
            method, stats, mode=self.mode,
            styles=self.style_dir.name if self.style_dir else None,
            style_pictures=len(self.style_files),
            encoder_sha256=self.encoder.sha256 if self.encoder else None,
            teacher_sha256=self.teacher.sha256 if self.teacher else None)

    @torch.no_grad()
    def _preview(self, step: int) -> Path:
        self.net.eval()
        style = (T.mean_std(self._encode(self.preview_style.to(self.dev)))
                 if self.preview_style is not None else None)

        def render(p: torch.Tensor) -> torch.Tensor:
            target = self._encode(p.to(self.dev))
            return self.net(target if style is None else T.adain(target, style))

        return write_preview(self.out, self.previews, step, render)


def _load_teacher(source: str, device: torch.device) -> StyleModel:
    model = load_model(source, device)
    if model.kind != "decoder" or model.params.get("layer") != "relu4_1":
        raise InvalidOption(f"--teacher must be a relu4_1 decoder; {model.name} is not")
    return model


def train_decoder(data: str | os.PathLike[str], output: str | os.PathLike[str],
                  config: DecoderConfig | None = None, *,
                  styles: str | os.PathLike[str] | None = None,
                  device: torch.device | str = "cpu", resume: bool = False,
                  callback: Callable[[TrainProgress], None] | None = None,
                  cancel: CancelToken | None = None, name: str | None = None,
                  time_limit: float | None = None) -> TrainResult:
    """Train a decoder (AdaIN with ``styles``, else an inverting WCT decoder) for
    ``config.steps`` or ``time_limit`` seconds, and write it (config.json + model.safetensors),
    checkpoints, the training log and previews to ``output``."""
    trainer = DecoderTrainer(data, output, config, styles=styles, device=device, resume=resume,
                             name=name)
    return trainer.run(callback, cancel, time_limit)
