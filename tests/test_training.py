"""The trainer: it learns, checkpoints resume exactly, previews and model folders appear."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from impasto.config import TrainConfig
from impasto.errors import Cancelled, InvalidOption
from impasto.events import CancelToken
from impasto.models import load_model
from impasto.training.data import CropBatches, list_images
from impasto.training.trainer import Trainer, train
from tests.conftest import stripes, synthetic_rgb

TINY = TrainConfig(steps=6, size=32, batch=2, style_size=48, checkpoint_every=3,
                   preview_every=3, holdout=1, precision="fp32")


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(synthetic_rgb(40 + 4 * i, 48, seed=i)).save(folder / f"p{i}.png")
    return folder


@pytest.fixture
def style(tmp_path: Path) -> Path:
    path = tmp_path / "style.png"
    Image.fromarray(stripes(48, 48)).save(path)
    return path


def test_batches_are_a_function_of_seed_and_step(photos: Path) -> None:
    files = list_images(photos)
    a = CropBatches(files, size=32, batch=3, seed=4)
    b = CropBatches(files, size=32, batch=3, seed=4)
    assert torch.equal(a.batch_at(7), b.batch_at(7))
    assert a.batch_at(7).shape == (3, 3, 32, 32)
    assert not torch.equal(a.batch_at(7), a.batch_at(8))
    # An epoch visits every file once.
    seen = [i for step in range(5) for i in CropBatches(files, size=32, batch=1,
                                                        seed=0).indices(step)]
    assert sorted(seen) == list(range(5))


def test_training_lowers_the_loss_and_writes_a_model(tmp_path: Path, photos: Path,
                                                     style: Path) -> None:
    losses: list[float] = []
    result = train(style, photos, tmp_path / "model", TINY.replace(steps=12),
                   callback=lambda e: losses.append(e.loss))
    assert len(losses) == 12
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    model = load_model(result.folder)
    assert model.arch == "fast"
    assert model.config["style"]["file"] == "style.png"
    assert model.config["training"]["held_out"] == ["p4.png"]
    assert sorted(p.name for p in (result.folder / "previews").iterdir()) == [
        "step_0000003.jpg", "step_0000006.jpg", "step_0000009.jpg", "step_0000012.jpg"]


def test_resume_continues_exactly(tmp_path: Path, photos: Path, style: Path) -> None:
    cfg = TINY
    straight = train(style, photos, tmp_path / "straight", cfg)
    token = CancelToken()

    def stop_after_3(event: object) -> None:
        if getattr(event, "step", 0) == 3:
            token.cancel()

    with pytest.raises(Cancelled, match="--resume"):
        train(style, photos, tmp_path / "resumed", cfg, callback=stop_after_3, cancel=token)
    with pytest.raises(InvalidOption, match="--resume"):
        train(style, photos, tmp_path / "resumed", cfg)
    with pytest.raises(InvalidOption, match="other size"):
        train(style, photos, tmp_path / "resumed", cfg.replace(size=40), resume=True)
    resumed = train(style, photos, tmp_path / "resumed", cfg, resume=True)
    a = load_file(str(straight.folder / "model.safetensors"))
    b = load_file(str(resumed.folder / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_bad_training_options_are_refused(tmp_path: Path, photos: Path, style: Path) -> None:
    with pytest.raises(InvalidOption, match="batch"):
        TrainConfig(batch=0)
    with pytest.raises(InvalidOption, match="arch"):
        TrainConfig(arch="resnet")  # type: ignore[arg-type]
    with pytest.raises(InvalidOption, match="loss-form"):
        TrainConfig(loss_form="cubed")  # type: ignore[arg-type]
    with pytest.raises(InvalidOption, match="no pictures"):
        (tmp_path / "empty").mkdir()
        train(style, tmp_path / "empty", tmp_path / "m", TINY)
    with pytest.raises(InvalidOption, match="holdout"):
        train(style, photos, tmp_path / "m", TINY.replace(holdout=5))


def test_time_limit_stops_checkpointed_and_writes_the_model(tmp_path: Path, photos: Path,
                                                            style: Path) -> None:
    import json

    # A limit far below one step: the run stops after its first step, checkpointed, and the
    # model records the steps done; --resume goes on from there to the end.
    cfg = TINY.replace(checkpoint_every=100, preview_every=0)
    first = train(style, photos, tmp_path / "m", cfg, time_limit=1e-6)
    assert first.steps == 1
    assert load_model(first.folder).config["training"]["steps_done"] == 1
    # The log is appended to; a resume cuts it after its checkpoint's step, dropping the lines
    # of steps it trains again and a line a crash cut short.
    log = first.folder / "training_log.jsonl"
    kept = log.read_bytes()
    with log.open("a") as f:
        f.write('{"step": 4, "seconds": 9.0, "content": 1.0}\n{"step": 5, "seco')
    rest = train(style, photos, tmp_path / "m", cfg, resume=True)
    assert rest.steps == cfg.steps
    assert log.read_bytes().startswith(kept)
    # Both sessions trained at the same options: one stretch of history.
    assert load_model(rest.folder).config["training"]["history"] == [
        {"steps": [1, 6], "style_weight": 10.0, "tv_weight": 0.0, "loss_form": "squared",
         "learning_rate": 1e-3}]
    straight = train(style, photos, tmp_path / "straight", cfg)
    a = load_file(str(straight.folder / "model.safetensors"))
    b = load_file(str(rest.folder / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    # The training log: a line per checkpoint, the mean losses since the line before.
    rows = [json.loads(line) for line in
            (rest.folder / "training_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 6]
    assert {"content", "style", "seconds"} <= rows[0].keys()
    with pytest.raises(InvalidOption, match="time limit"):
        train(style, photos, tmp_path / "bad", cfg, time_limit=0)


def test_checkpoint_weights_and_record_stay_a_pair(tmp_path: Path, photos: Path, style: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The record names its weights' SHA-256: a crash between the two renames of a save
    leaves weights newer than the record; resume finishes that save from the record's .part
    file, and refuses weights that no record names."""
    import os
    import shutil

    cfg = TINY.replace(steps=2, checkpoint_every=1, preview_every=0)
    folder = tmp_path / "m"
    rename = os.replace

    def crash_at_step_2(src: str | Path, dst: str | Path) -> None:
        if Path(dst).name == "checkpoint.json" and json.loads(Path(src).read_text())["step"] == 2:
            raise RuntimeError("power cut")
        rename(src, dst)

    monkeypatch.setattr(os, "replace", crash_at_step_2)
    with pytest.raises(RuntimeError, match="power cut"):
        train(style, photos, folder, cfg)
    monkeypatch.undo()
    assert json.loads((folder / "checkpoint.json").read_text())["step"] == 1
    lost = tmp_path / "lost"
    shutil.copytree(folder, lost)
    (lost / "checkpoint.json.part").unlink()
    with pytest.raises(InvalidOption, match="does not match"):
        Trainer(style, photos, lost, cfg.replace(steps=3), resume=True)
    assert Trainer(style, photos, folder, cfg.replace(steps=3), resume=True).start == 2
    assert json.loads((folder / "checkpoint.json").read_text())["step"] == 2


def test_trainers_run_channels_last(tmp_path: Path, photos: Path, style: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Every trainer takes its runtime from the one policy (on CUDA: channels-last); the
    channels-last path, forced on the CPU, trains and writes every kind of model."""
    import impasto.training.loop as loop
    from impasto.config import DecoderConfig, EncoderConfig
    from impasto.runtime import choose_runtime
    from impasto.training.decoder import train_decoder
    from impasto.training.encoder import train_encoder

    asked: list[str] = []

    def channels_last(workload: str, *args: object, **kwargs: object) -> object:
        asked.append(workload)
        return choose_runtime(workload, *args, **kwargs, channels_last=True)  # type: ignore

    monkeypatch.setattr(loop, "choose_runtime", channels_last)
    small = dict(steps=2, size=32, batch=2, holdout=1, checkpoint_every=2, preview_every=2,
                 precision="fp32")
    net = train(style, photos, tmp_path / "net", TINY.replace(steps=2))
    enc = train_encoder(photos, tmp_path / "enc", EncoderConfig(width=4, **small))
    dec = train_decoder(photos, tmp_path / "dec", DecoderConfig(layer="relu4_1", width=4,
                                                                **small), styles=photos)
    distilled = train_decoder(photos, tmp_path / "dist", DecoderConfig(
        layer="relu4_1", width=4, encoder=str(enc.folder), teacher=str(dec.folder), **small),
        styles=photos)
    for result in (net, enc, dec, distilled):
        assert np.isfinite(sum(result.losses.values()))
        load_model(result.folder)
    assert asked == ["training"] * 4


def test_init_starts_from_a_trained_model(tmp_path: Path, photos: Path, style: Path) -> None:
    first = train(style, photos, tmp_path / "a", TINY.replace(preview_every=0))
    # A learning rate too small to move anything: the fine-tuned model is the one it began from.
    tuned = train(style, photos, tmp_path / "b",
                  TINY.replace(steps=1, preview_every=0, learning_rate=1e-12,
                               init=str(first.folder)))
    a = load_file(str(first.folder / "model.safetensors"))
    b = load_file(str(tuned.folder / "model.safetensors"))
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    record = load_model(tuned.folder).config["training"]["init"]
    assert record["sha256"] == load_model(first.folder).sha256
    # A resumed run keeps its lineage: where it began, without --init, and every style weight
    # it trained at, with its steps.
    more = TINY.replace(steps=3, preview_every=0, learning_rate=1e-12, style_weight=5.0)
    resumed = train(style, photos, tmp_path / "b", more, resume=True)
    training = load_model(resumed.folder).config["training"]
    assert training["init"] == record
    assert [(h["steps"], h["style_weight"]) for h in training["history"]] == [
        ([1, 1], 10.0), ([2, 3], 5.0)]
    with pytest.raises(InvalidOption, match="began from"):
        train(style, photos, tmp_path / "b", more.replace(steps=4, init=str(tuned.folder)),
              resume=True)
    with pytest.raises(InvalidOption, match="--init"):
        train(style, photos, tmp_path / "c", TINY.replace(arch="johnson", init=str(first.folder)))


def test_distance_form_trains_on_the_roots_of_the_squared_losses(tmp_path: Path, photos: Path,
                                                                 style: Path) -> None:
    # One picture a batch: each loss of the distance form is the mean over its layers of the
    # square roots of the squared form's per-layer terms, so content (one layer) is the root.
    one = TINY.replace(batch=1, preview_every=0)
    torch.manual_seed(0)
    sq = Trainer(style, photos, tmp_path / "sq", one)
    dist = Trainer(style, photos, tmp_path / "dist", one.replace(loss_form="distance"))
    dist.net.load_state_dict(sq.net.state_dict())
    with torch.no_grad():
        _, p_sq = sq._loss(0)
        _, p_dist = dist._loss(0)
    assert p_dist["content"] == pytest.approx(p_sq["content"] ** 0.5, rel=1e-4)
    assert p_sq["style"] ** 0.5 > p_dist["style"] * 0.999  # root of mean >= mean of roots
    losses: list[float] = []
    result = train(style, photos, tmp_path / "model", one.replace(steps=12, batch=2,
                                                                  loss_form="distance"),
                   callback=lambda e: losses.append(e.loss))
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert load_model(result.folder).config["training"]["loss_form"] == "distance"


def test_width_shapes_the_network_and_travels_with_it(tmp_path: Path, photos: Path,
                                                      style: Path) -> None:
    small = TINY.replace(steps=2, checkpoint_every=1, preview_every=0, width=8)
    assert small.arch_params == {"width": 8}
    assert TINY.arch_params == {}
    result = train(style, photos, tmp_path / "small", small)
    model = load_model(result.folder)
    assert model.params == {"width": 8, "blocks": 4}
    default = sum(p.numel() for p in load_model(
        train(style, photos, tmp_path / "default", TINY.replace(steps=1, preview_every=0)
              ).folder).net.parameters())
    assert sum(p.numel() for p in model.net.parameters()) < default / 3
    # Fine-tuning and resuming keep the shape; another shape is refused with one line.
    tuned = train(style, photos, tmp_path / "tuned",
                  small.replace(steps=1, init=str(result.folder)))
    assert load_model(tuned.folder).params == {"width": 8, "blocks": 4}
    with pytest.raises(InvalidOption, match="--init"):
        train(style, photos, tmp_path / "other", TINY.replace(init=str(result.folder)))
    with pytest.raises(InvalidOption, match="width"):
        train(style, photos, tmp_path / "small", small.replace(steps=3, width=12), resume=True)
    resumed = train(style, photos, tmp_path / "small", small.replace(steps=3), resume=True)
    assert resumed.steps == 3
    for bad in ({"width": 300}, {"width": -1}):
        with pytest.raises(InvalidOption, match=next(iter(bad))):
            TrainConfig(**bad)  # type: ignore[arg-type]


def test_records_say_the_whole_shape_and_older_ones_still_load(
        tmp_path: Path, photos: Path, style: Path) -> None:
    """A model folder and a checkpoint record every shape parameter, defaults too, so a later
    change of a default cannot change what they hold; ones written before (params {}, width 0,
    no checksum or lineage, the removed --blocks and --lr-schedule at their defaults) still
    load, resume and fine-tune; a checkpoint that used a removed option is refused."""
    cfg = TINY.replace(steps=2, checkpoint_every=1, preview_every=0)
    old = train(style, photos, tmp_path / "old", cfg)
    assert json.loads((old.folder / "config.json").read_text())["params"] == {
        "width": 16, "blocks": 4}
    assert json.loads((old.folder / "checkpoint.json").read_text())["config"]["width"] == 16

    def rewrite(name: str, **config: object) -> None:
        path = old.folder / name
        record = json.loads(path.read_text())
        if name == "config.json":
            record["params"] = {}
        else:
            for key in ("weights_sha256", "init", "history"):
                record.pop(key, None)
            record["config"].update(config)
        path.write_text(json.dumps(record))

    rewrite("config.json")
    for removed, match in (({"lr_schedule": "cosine"}, "lr-schedule cosine"),
                           ({"blocks": 6}, "6 residual blocks")):
        rewrite("checkpoint.json", **{"lr_schedule": "constant", "blocks": 0, **removed})
        with pytest.raises(InvalidOption, match=match):
            train(style, photos, old.folder, cfg.replace(steps=3), resume=True)
    rewrite("checkpoint.json", width=0, blocks=0, lr_schedule="constant")
    assert load_model(old.folder).params == {"width": 16, "blocks": 4}
    with pytest.raises(InvalidOption, match="width"):
        train(style, photos, old.folder, cfg.replace(steps=3, width=8), resume=True)
    assert train(style, photos, old.folder, cfg.replace(steps=3), resume=True).steps == 3
    tuned = train(style, photos, tmp_path / "tuned", cfg.replace(steps=1, init=str(old.folder)))
    assert load_model(tuned.folder).params == {"width": 16, "blocks": 4}
