"""Training a per-style feed-forward network (Johnson et al. 2016) on our VGG-19.

The perceptual loss is the optimiser's: relative content loss on the content layers, relative
Gram loss against the style's Gram matrices (computed once), optional TV. Adam on the network's
weights; bf16 autocast for VGG where the device does bf16 well (the network and the loss stay
float32). Checkpoints hold the network, Adam's state and the step; data order and crops are a
function of (seed, step), so ``resume=True`` continues exactly where the last checkpoint was.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from impasto._version import __version__
from impasto.config import TrainConfig
from impasto.errors import Cancelled, InvalidOption
from impasto.events import CancelToken
from impasto.features.vgg import VGG19
from impasto.image.io import to_pil
from impasto.image.sheet import contact_sheet
from impasto.losses import functional as LF
from impasto.models.registry import Architecture, architecture
from impasto.models.store import save_model, sha256_file
from impasto.runtime.precision import autocast, resolve_precision
from impasto.training.data import CropBatches, list_images, load_rgb

CHECKPOINT_WEIGHTS = "checkpoint.safetensors"
CHECKPOINT_STATE = "checkpoint.json"
#: One JSON line per checkpoint: step, seconds so far, and the mean losses since the last line.
TRAINING_LOG = "training_log.jsonl"


def start_from(trainer: Any, arch: str, params: dict[str, Any], resume: bool
               ) -> dict[str, str] | None:
    """``config.init``: copy a trained model's weights into ``trainer.net`` (same
    architecture and options); returns what the model record says of it. A resumed run takes
    its weights from the checkpoint instead."""
    from impasto.models.store import load_model

    source = trainer.cfg.init
    if source is None:
        return None
    model = load_model(source)
    own = architecture(arch).defaults()
    if model.arch != arch or {**own, **model.params} != {**own, **params}:
        raise InvalidOption(f"--init {model.name} is a {model.arch} model {model.params}; this "
                            f"run trains a {arch} model {params}")
    if not resume:
        try:
            trainer.net.load_state_dict(model.net.state_dict())
        except RuntimeError:
            raise InvalidOption(f"--init {model.name}: its weights do not fit a {arch} model "
                                f"{params}") from None
    return {"source": str(source), "name": model.name, "sha256": model.sha256}


def memory_format(device: torch.device) -> torch.memory_format:
    """Channels-last on CUDA, where tensor-core convolutions want it; plain NCHW on CPUs
    (measured slower there for VGG, see docs/benchmarks.md)."""
    return torch.channels_last if device.type == "cuda" else torch.contiguous_format


def on_device(module_or_tensor: Any, device: torch.device) -> Any:
    """``module_or_tensor`` moved to ``device`` in the device's :func:`memory_format`."""
    fmt = memory_format(device)
    if isinstance(module_or_tensor, torch.Tensor):
        return module_or_tensor.to(device).contiguous(memory_format=fmt)
    return module_or_tensor.to(device).to(memory_format=fmt)


@dataclass(frozen=True)
class TrainProgress:
    """One training step (or the end of the run)."""

    step: int
    total_steps: int
    loss: float
    losses: dict[str, float]
    elapsed: float
    #: Seconds per step over the steps of this session (for ETAs).
    step_seconds: float
    preview: Path | None = None
    checkpoint: bool = False


@dataclass
class TrainResult:
    folder: Path
    steps: int
    seconds: float
    losses: dict[str, float] = field(default_factory=dict)


def _loss_networks(cfg: TrainConfig, device: torch.device) -> tuple[VGG19, VGG19]:
    """VGG-19 for the output (all loss layers) and for the photos (content layers only, so the
    target pass stops early); they share the decoded weights."""
    return (on_device(VGG19([*cfg.content_layers, *cfg.style_layers]), device),
            on_device(VGG19(list(cfg.content_layers)), device))


class Trainer:
    """A training run, checked and prepared (bad data, options or checkpoints raise here,
    before any work); :meth:`run` trains."""

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
        self.cfg, self.dev, self.out = cfg, torch.device(device), Path(output)
        self.style, self.data, self.name = Path(style), Path(data), name
        self.files, self.held_out = prepare_run(data, cfg.holdout, self.out, resume)
        style_img = open_image(style, name="style")
        scale = cfg.style_size / max(style_img.size)
        style_img = style_img.resize((max(1, round(style_img.width * scale)),
                                      max(1, round(style_img.height * scale))),
                                     resample=3)  # bicubic
        self.precision = resolve_precision(cfg.precision, self.dev)
        torch.manual_seed(cfg.seed)
        self.arch = architecture(cfg.arch)
        self.net = on_device(self.arch.build(**cfg.arch_params), self.dev).train()
        self.init = start_from(self, self.arch.name, cfg.arch_params, resume)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.learning_rate)
        self.start = _load_checkpoint(self.out, self.net, self.opt, cfg, self.dev,
                                      arch=self.arch) if resume else 0
        self.vgg, self.content_vgg = _loss_networks(cfg, self.dev)
        with torch.no_grad(), autocast(self.precision, self.dev):
            feats = self.vgg(on_device(to_tensor(style_img), self.dev))
        self.targets = {n: LF.gram(feats[n]).float() for n in cfg.style_layers}
        self.batches = CropBatches(self.files, size=cfg.size, batch=cfg.batch, seed=cfg.seed)
        self.previews = [to_tensor(load_rgb(p, cfg.size)) for p in self.held_out]

    def _loss(self, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        cfg, dev, net = self.cfg, self.dev, self.net
        x = on_device(self.batches.batch_at(step), dev)
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
        return _write_preview(self.out, self.previews, step,
                              lambda p: run_network(self.net, p.to(self.dev)))

    def run(self, callback: Callable[[TrainProgress], None] | None = None,
            cancel: CancelToken | None = None, time_limit: float | None = None) -> TrainResult:
        """Train to ``config.steps``, or until ``time_limit`` seconds have passed; either way
        the model is written with the steps done."""
        run = training_loop(self, callback, cancel, time_limit)
        step, losses, seconds, _ = run
        info = model_info(self, "per-style feed-forward network (Johnson et al. 2016, instance "
                          "norm)", run, licence_of="the style picture's and the training "
                          "photos'", init=self.init)
        info["style"] = {"file": self.style.name, "sha256": sha256_file(self.style)}
        save_model(self.out, self.net.eval(), self.arch.name, self.cfg.arch_params, info)
        return TrainResult(folder=self.out, steps=step, seconds=seconds, losses=losses)


def model_info(trainer: Any, method: str, run: tuple[int, dict[str, float], float, float], *,
               licence_of: str = "the training pictures'", **training: Any) -> dict[str, Any]:
    """What a trained model's config.json says of it: name, software, method, the training
    options, data, steps, time and last losses (``run`` is what :func:`training_loop`
    returns), ``training`` extras, and a licence note."""
    step, losses, seconds, total = run
    return {
        "name": trainer.name or trainer.out.name,
        "software": f"impasto {__version__}",
        "method": method,
        "training": {**trainer.cfg.to_dict(), **training, "data": trainer.data.name,
                     "pictures": len(trainer.files),
                     "held_out": [p.name for p in trainer.held_out], "steps_done": step,
                     "seconds_this_session": round(seconds, 1),
                     "seconds_total": round(total, 1),
                     "precision": trainer.precision, "device": trainer.dev.type,
                     "final_losses": losses},
        "licence": "The weights carry the terms of the pictures they were trained on: check "
                   f"{licence_of} licences before using them.",
    }


def prepare_run(data: str | os.PathLike[str], holdout: int, out: Path,
                resume: bool) -> tuple[list[Path], list[Path]]:
    """The training and held-out pictures of ``data``; refuses a run that would leave no
    training pictures, or overwrite a checkpoint without ``resume``."""
    files = list_images(data)
    if holdout >= len(files):
        raise InvalidOption(f"--holdout {holdout} leaves no training pictures "
                            f"({len(files)} found)")
    if not resume and (out / CHECKPOINT_STATE).exists():
        raise InvalidOption(f"{out} holds a checkpoint; pass --resume to continue it "
                            "or choose another folder")
    return files[:len(files) - holdout], files[len(files) - holdout:]


def learning_rate_at(cfg: Any, step: int) -> float:
    """The learning rate of ``step`` (1-based) under ``cfg.lr_schedule`` (constant where a
    config has none): a function of the step alone, so a run resumed with the same
    ``steps`` goes on exactly."""
    if getattr(cfg, "lr_schedule", "constant") == "constant":
        return float(cfg.learning_rate)
    return cfg.learning_rate * 0.5 * (1.0 + math.cos(math.pi * (step - 1) / cfg.steps))


def training_loop(trainer: Any, callback: Callable[[TrainProgress], None] | None,
                  cancel: CancelToken | None, time_limit: float | None = None,
                  ) -> tuple[int, dict[str, float], float, float]:
    """The loop the trainers share: Adam steps on ``trainer._loss(step)``, previews,
    checkpoints with a line of the training log each, cancellation, an optional time limit
    (seconds of this session: the run stops after the step that passes it, checkpointed) and
    progress events; returns (last step, last losses, seconds of this session, seconds of
    every session). A resumed run takes the last losses and the seconds so far from its
    checkpoint, so a model finished by a resume records them."""
    cfg, net, opt, out = trainer.cfg, trainer.net, trainer.opt, trainer.out
    if time_limit is not None and time_limit <= 0:
        raise InvalidOption(f"time limit must be positive, got {time_limit:g} s")
    out.mkdir(parents=True, exist_ok=True)
    if trainer.dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop size: pick the fastest kernels once
    started = time.perf_counter()
    prior = _checkpoint_record(out) if trainer.start else {}
    losses: dict[str, float] = dict(prior.get("losses", {}))
    before = float(prior.get("seconds", 0.0))
    log = _TrainingLog(out / TRAINING_LOG, trainer.start)

    def save(at: int) -> None:
        seconds = before + time.perf_counter() - started
        _save_checkpoint(out, net, opt, cfg, at, losses=losses, seconds=seconds)
        log.write(at, seconds)

    step = trainer.start
    for step in range(trainer.start + 1, cfg.steps + 1):
        if cancel is not None and cancel.cancelled:
            save(step - 1)
            raise Cancelled(f"cancelled at step {step - 1}; --resume continues from there")
        for group in opt.param_groups:
            group["lr"] = learning_rate_at(cfg, step)
        loss, losses = trainer._loss(step - 1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        log.add(losses)
        preview = None
        if cfg.preview_every and trainer.previews and step % cfg.preview_every == 0:
            preview = trainer._preview(step)
            net.train()
        out_of_time = time_limit is not None and time.perf_counter() - started >= time_limit
        saved = step % cfg.checkpoint_every == 0 or step == cfg.steps or out_of_time
        if saved:
            save(step)
        if callback is not None:
            elapsed = time.perf_counter() - started
            callback(TrainProgress(step=step, total_steps=cfg.steps, loss=float(loss.detach()),
                                   losses=losses, elapsed=elapsed,
                                   step_seconds=elapsed / max(step - trainer.start, 1),
                                   preview=preview, checkpoint=saved))
        if out_of_time:
            break
    seconds = time.perf_counter() - started
    return step, losses, seconds, before + seconds


class _TrainingLog:
    """``training_log.jsonl``: a line per checkpoint with the mean of each loss over the steps
    since the line before. A resumed run drops the lines past its checkpoint."""

    def __init__(self, path: Path, start: int) -> None:
        self.path = path
        self.sums: dict[str, float] = {}
        self.count = 0
        if start == 0:
            path.unlink(missing_ok=True)
        elif path.is_file():
            kept = [line for line in path.read_text().splitlines()
                    if line.strip() and json.loads(line).get("step", 0) <= start]
            path.write_text("".join(line + "\n" for line in kept))

    def add(self, losses: dict[str, float]) -> None:
        for key, value in losses.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.count += 1

    def write(self, step: int, seconds: float) -> None:
        if not self.count:
            return
        row = {"step": step, "seconds": round(seconds, 1),
               **{k: round(v / self.count, 6) for k, v in self.sums.items()}}
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        self.sums, self.count = {}, 0


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


@torch.no_grad()
def _write_preview(out: Path, previews: list[torch.Tensor], step: int,
                   render: Callable[[torch.Tensor], torch.Tensor]) -> Path:
    """A contact sheet of the held-out pictures and what ``render`` makes of them."""
    pictures, labels = [], []
    for p in previews:
        pictures += [to_pil(p), to_pil(render(p).clamp(0, 1).cpu())]
        labels += ["held-out photo", f"step {step}"]
    sheet = contact_sheet(pictures, labels, columns=2, cell_height=192)
    path = out / "previews" / f"step_{step:07d}.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.convert("RGB").save(path, quality=88)
    return path


def _checkpoint_record(out: Path) -> dict[str, Any]:
    path = out / CHECKPOINT_STATE
    return json.loads(path.read_text()) if path.is_file() else {}


def _save_checkpoint(out: Path, net: torch.nn.Module, opt: torch.optim.Optimizer,
                     cfg: Any, step: int, *, losses: dict[str, float] | None = None,
                     seconds: float = 0.0) -> None:
    tensors = {f"net.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    steps: dict[str, float] = {}
    for index, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            if key == "step":
                steps[str(index)] = float(value)
            else:
                tensors[f"opt.{index}.{key}"] = value.detach().cpu().contiguous()
    weights = out / CHECKPOINT_WEIGHTS
    tmp = weights.with_name(weights.name + ".part")
    save_file(tensors, str(tmp))
    os.replace(tmp, weights)
    record = {"step": step, "adam_steps": steps, "config": cfg.to_dict(),
              "losses": losses or {}, "seconds": round(seconds, 1),
              "software": f"impasto {__version__}"}
    state_path = out / CHECKPOINT_STATE
    tmp = state_path.with_name(state_path.name + ".part")
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, state_path)


#: Options a resumed run must share with its checkpoint.
RESUME_KEYS = ("arch", "width", "blocks", "size", "batch", "style_size", "seed",
               "content_layers", "style_layers")


def resolve_shape(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with ``width`` and ``blocks`` at 0 ("the architecture's own") replaced by the
    architecture's values, so that checkpoints and model records say what was trained."""
    own = architecture(cfg.arch).defaults()
    return cfg.replace(**{k: own[k] for k in ("width", "blocks")
                          if not getattr(cfg, k) and k in own})


def _load_checkpoint(out: Path, net: torch.nn.Module, opt: torch.optim.Optimizer,
                     cfg: Any, dev: torch.device, keys: tuple[str, ...] = RESUME_KEYS,
                     arch: Architecture | None = None) -> int:
    state_path, weights = out / CHECKPOINT_STATE, out / CHECKPOINT_WEIGHTS
    if not state_path.is_file() or not weights.is_file():
        raise InvalidOption(f"--resume: no checkpoint in {out}")
    record = json.loads(state_path.read_text())
    # A checkpoint written before an option existed was trained with the option's default.
    saved = {**type(cfg)().to_dict(), **record.get("config", {})}
    if arch is not None:
        # One written before shapes were resolved says 0 for the architecture's own.
        own = arch.defaults()
        saved.update({k: own[k] for k in ("width", "blocks") if not saved.get(k) and k in own})
    mine = cfg.to_dict()
    changed = [k for k in keys if saved.get(k) != mine.get(k)]
    if changed:
        raise InvalidOption(f"--resume: the checkpoint was trained with other "
                            f"{', '.join(changed)}; resume with the same options")
    tensors = load_file(str(weights))
    net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
    opt_state = opt.state_dict()
    for index_text, adam_step in record.get("adam_steps", {}).items():
        index = int(index_text)
        entry = {"step": torch.tensor(adam_step)}
        for key in ("exp_avg", "exp_avg_sq"):
            entry[key] = tensors[f"opt.{index}.{key}"].to(dev)
        opt_state["state"][index] = entry
    opt.load_state_dict(opt_state)
    return int(record["step"])
