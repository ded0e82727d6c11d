"""Where a training run starts, and what it keeps to resume: checkpoints and lineage.

A checkpoint is two files in the run's folder: ``checkpoint.safetensors`` (the network and
Adam's moments) and ``checkpoint.json`` (the step, Adam's step counts, the options, the losses
and seconds so far, the SHA-256 of the weights file, and the run's lineage). Both are written
to ``.part`` files first; the weights are renamed into place, then the record. A crash between
the two renames leaves a record that names other weights: resuming finishes the save from the
``.part`` record when that one names the weights on disk, and refuses in one line otherwise.

The lineage is what a model record says of where its weights come from: the trained model the
run started from (``init``, kept by every resumed session) and ``history``, the options a
resumed run may change (its style weight, learning rate ...) with the steps trained at each.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save_file

from impasto._version import __version__
from impasto.errors import InvalidOption
from impasto.models.store import load_model, sha256_file

CHECKPOINT_WEIGHTS = "checkpoint.safetensors"
CHECKPOINT_STATE = "checkpoint.json"

def _part(path: Path) -> Path:
    return path.with_name(path.name + ".part")


@dataclass
class RunStart:
    """Where a run starts: at ``step`` (0, or its checkpoint's), from the model ``init`` (or
    None), with the ``history`` of the steps before (one entry per stretch of steps trained at
    the same values of the trainer's ``HISTORY_KEYS``: ``{"steps": [first, last], key: value
    ...}``) and the last ``losses`` and the ``seconds`` of the sessions before."""

    step: int = 0
    init: dict[str, str] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    losses: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def history_through(self, cfg: Any, keys: tuple[str, ...], last: int
                        ) -> list[dict[str, Any]]:
        """The history with the steps after :attr:`step` up to ``last`` trained at ``cfg``'s
        values (merged into the last entry where the run went on at the same values)."""
        history = [dict(entry) for entry in self.history]
        first = self.step + 1
        if last < first:
            return history
        values = {k: getattr(cfg, k) for k in keys}
        if history:
            prev = history[-1]
            if prev["steps"][1] == first - 1 and {k: prev.get(k) for k in keys} == values:
                prev["steps"] = [prev["steps"][0], last]
                return history
        history.append({"steps": [first, last], **values})
        return history


def save_checkpoint(trainer: Any, step: int, *, losses: dict[str, float],
                    seconds: float, history: list[dict[str, Any]]) -> None:
    """Write ``trainer``'s network and Adam state at ``step`` (see the module's docstring for
    the order that keeps the pair consistent)."""
    tensors = {f"net.{k}": v.detach().cpu().contiguous()
               for k, v in trainer.net.state_dict().items()}
    steps: dict[str, float] = {}
    for index, state in trainer.opt.state_dict()["state"].items():
        for key, value in state.items():
            if key == "step":
                steps[str(index)] = float(value)
            else:
                tensors[f"opt.{index}.{key}"] = value.detach().cpu().contiguous()
    weights, record_path = trainer.out / CHECKPOINT_WEIGHTS, trainer.out / CHECKPOINT_STATE
    save_file(tensors, str(_part(weights)))
    digest = sha256_file(_part(weights))
    record = {"step": step, "adam_steps": steps, "config": trainer.cfg.to_dict(),
              "losses": losses, "seconds": round(seconds, 1),
              "software": f"impasto {__version__}", "weights_sha256": digest,
              "init": trainer.begin.init, "history": history}
    _part(record_path).write_text(json.dumps(record, indent=2))
    os.replace(_part(weights), weights)
    os.replace(_part(record_path), record_path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def read_checkpoint(out: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The checkpoint in ``out``: its record and tensors, the weights checked against the
    record's SHA-256 (a save cut short between its two renames is finished here)."""
    record_path, weights = out / CHECKPOINT_STATE, out / CHECKPOINT_WEIGHTS
    if not record_path.is_file() or not weights.is_file():
        raise InvalidOption(f"--resume: no checkpoint in {out}")
    record = _read_json(record_path)
    if record is None:
        raise InvalidOption(f"--resume: {record_path} is not readable JSON")
    data = weights.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    expected = record.get("weights_sha256")  # absent from checkpoints of earlier versions
    if expected is not None and expected != digest:
        pending = _read_json(_part(record_path)) if _part(record_path).is_file() else None
        if pending is None or pending.get("weights_sha256") != digest:
            raise InvalidOption(f"--resume: {weights.name} does not match {record_path.name} in "
                                f"{out} (a save was cut short); this checkpoint cannot be "
                                "resumed: start again in another folder")
        os.replace(_part(record_path), record_path)
        record = pending
    try:
        tensors = load_tensors(data)
    except SafetensorError as exc:
        raise InvalidOption(f"--resume: {weights} is not readable ({exc})") from None
    return record, tensors


def _check_options(trainer: Any, record: dict[str, Any]) -> None:
    """Refuse a checkpoint trained with other values of ``trainer.RESUME_KEYS``, or with an
    option impasto no longer has."""
    cfg = trainer.cfg
    # A checkpoint written before an option existed was trained with the option's default.
    saved = {**type(cfg)().to_dict(), **record.get("config", {})}
    own = trainer.arch.defaults()
    # One written before shapes were resolved says 0 for the architecture's own.
    saved.update({k: own[k] for k in own if k in saved and not saved[k]})
    # Options impasto no longer has: a checkpoint that used them is refused.
    schedule = saved.get("lr_schedule", "constant")
    if schedule != "constant":
        raise InvalidOption(f"--resume: the checkpoint was trained with --lr-schedule {schedule}, "
                            "which impasto no longer has; start a new run (--init can start it "
                            "from this run's model)")
    blocks = saved.get("blocks")
    if blocks and blocks != own.get("blocks"):
        raise InvalidOption(f"--resume: the checkpoint's network has {blocks} residual blocks "
                            "(--blocks, which impasto no longer has); start a new run")
    mine = cfg.to_dict()
    changed = [k for k in trainer.RESUME_KEYS if saved.get(k) != mine.get(k)]
    if changed:
        raise InvalidOption(f"--resume: the checkpoint was trained with other "
                            f"{', '.join(changed)}; resume with the same options")


def load_checkpoint(trainer: Any, given_init: dict[str, str] | None) -> RunStart:
    """Load the checkpoint in ``trainer.out`` into ``trainer.net`` and ``trainer.opt``;
    returns where the run goes on from. ``given_init``: what ``--init`` names, which must
    be the model the run started from (a resumed run takes its weights from the checkpoint)."""
    record, tensors = read_checkpoint(trainer.out)
    _check_options(trainer, record)
    step = int(record["step"])
    if "init" in record:
        init = record["init"]
        if given_init is not None and (init or {}).get("sha256") != given_init["sha256"]:
            began = f"from {init['name']}" if init else "from a random initialisation"
            raise InvalidOption(f"--resume: this run began {began}, not from "
                                f"{given_init['name']}; resume without --init")
    else:  # a checkpoint of an earlier version: its lineage is what this session says
        init = given_init
    if "history" in record:
        history = list(record["history"])
    else:  # its steps, put down at the options of the session that wrote it
        saved = {**type(trainer.cfg)().to_dict(), **record.get("config", {})}
        history = ([{"steps": [1, step], **{k: saved.get(k) for k in trainer.HISTORY_KEYS}}]
                   if step else [])
    trainer.net.load_state_dict({k[4:]: v for k, v in tensors.items()
                                 if k.startswith("net.")})
    opt_state = trainer.opt.state_dict()
    for index_text, adam_step in record.get("adam_steps", {}).items():
        index = int(index_text)
        entry = {"step": torch.tensor(adam_step)}
        for key in ("exp_avg", "exp_avg_sq"):
            entry[key] = tensors[f"opt.{index}.{key}"].to(trainer.dev)
        opt_state["state"][index] = entry
    trainer.opt.load_state_dict(opt_state)
    return RunStart(step, init, history, dict(record.get("losses", {})),
                    float(record.get("seconds", 0.0)))


def start_from(trainer: Any, resume: bool) -> dict[str, str] | None:
    """``config.init``: copy a trained model's weights into ``trainer.net`` (same
    architecture and options); returns what the model record says of it. A resumed run takes
    its weights from the checkpoint instead (the model is still checked)."""
    source = trainer.cfg.init
    if source is None:
        return None
    model = load_model(source)
    arch, params = trainer.arch.name, trainer.params
    own = trainer.arch.defaults()
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
