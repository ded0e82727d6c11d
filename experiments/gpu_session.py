"""One GPU session in one command: train the decoders and encoder impasto ships and the per-style
benchmark networks, then measure GPU speed, inside a wall-clock budget.

    python experiments/gpu_session.py --data DATA --out OUT [--budget SECONDS] [--device cuda]
        [--only JOB ...] [--builtin] [--no-measure]

DATA holds ``photos/`` (the per-style networks' training photos), ``clean_content/`` and
``clean_styles/`` (the licence-clean pictures the shipped decoders and encoder train on),
``styles/`` (the per-style networks' style pictures), ``bench/`` (a content photo for the
speed figures), ``video/`` (the clip of the video figures), ``open/`` (the licence-clean photos
of the built-in styles' networks, ``--builtin``) and, for the ``*-finetune`` jobs,
``init/starry`` and ``init/wave`` (the model folders they start from). Each job is a subprocess
with its own time limit (the trainers' ``time_limit``, ``--max-minutes`` on the command line);
the jobs share the one GPU. Each model folder is packed (``NAME.tgz``, with its checkpoint where
that fits) as soon as its job ends, and the packs so far are bundled into ``OUT/models.tar``;
the speed figures are written to ``OUT/measure.json`` as they come, so a run cut short still
returns what finished. ``experiments/gpu_resume.py`` carries the returned runs on.

Dry run on a CPU (tiny budget, every code path): ``--device cpu --budget 90``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
STEPS = 10**7  # the time limits end the runs
#: The built-in styles whose per-style networks ship in the package (``--builtin``): trained
#: on DATA/open, the licence-clean photos (``scripts/training_set.py OUT --folders open_photos
#: coco-clean``, each resized to a short side of 256 px so that the folder travels).
BUILTIN = ("starry-night", "great-wave", "the-scream", "the-kiss", "wheat-field",
           "grande-jatte", "tahitian-women", "turner-shipwreck", "red-blue-horse", "cossacks")


def jobs(data: Path, work: Path, budget: float, measure: bool = True,
         tune_weights: tuple[float, ...] = ()) -> dict[str, dict[str, Any]]:
    """The training jobs: name -> what to train, on what, for how long (seconds of training);
    without ``measure`` the training takes the speed figures' share of the budget too.
    ``tune_weights`` adds ``tune<W>-<style>``: each built-in style's shipped network continued
    at style weight W (the ``tune`` jobs)."""
    measuring = min(100.0, 0.22 * budget) if measure else 0.0
    train = budget - measuring - 25.0  # process start-up and packing
    common = {"steps": STEPS, "checkpoint_every": 1000, "preview_every": 0}
    styles = {"starry": "starry_night.jpg", "wave": "great_wave_off_kanagawa.jpg"}

    def style_job(style: str, optional: bool = True, **config: Any) -> dict[str, Any]:
        """A per-style network on DATA/photos: `fast`, batch 8, unless ``config`` says else."""
        return {"kind": "style", "style": str(data / "styles" / styles[style]),
                "data": str(data / "photos"), "limit": train - 10, "optional": optional,
                "config": {**common, "arch": "fast", "batch": 8, **config}}

    distance = {"loss_form": "distance", "style_weight": 4.0}

    def finetune(style: str, seed: int, style_weight: float) -> dict[str, Any]:
        """A CPU fine-tune (DATA/init/STYLE) continued at ``style_weight``."""
        return style_job(style, seed=seed, learning_rate=3e-4, loss_form="distance",
                         style_weight=style_weight, init=str(data / "init" / style))

    def builtin_job(name: str) -> dict[str, Any]:
        """A shipped built-in style's network: `fast` width 16, batch 8, on the score's own
        distances, the style picture at 512 px times the style's own scale."""
        from impasto.styles.library import get_style

        style = get_style(name)
        return {"kind": "style", "style": str(style.path), "data": str(data / "open"),
                "limit": train - 10, "optional": True, "builtin": True,
                "config": {**common, "arch": "fast", "batch": 8, **distance,
                           "style_size": round(512 * style.style_scale)}}

    def tune_job(name: str, weight: float) -> dict[str, Any]:
        """The shipped network of a built-in style (``fast-<style>``) continued at another
        style weight, with the same recipe otherwise: its content and style traded."""
        job = builtin_job(name)
        job["builtin"], job["tune"] = False, True
        job["config"] = {**job["config"], "style_weight": weight, "init": f"fast-{name}"}
        return job

    return {
        **{f"builtin-{name}": builtin_job(name) for name in BUILTIN},
        **{f"tune{w:g}-{name}": tune_job(name, w) for w in tune_weights for name in BUILTIN},
        "starry": style_job("starry", optional=False),
        "wave": style_job("wave", optional=False),
        "adain10": {"kind": "decoder", "data": str(data / "clean_content"),
                    "styles": str(data / "clean_styles"), "limit": 0.55 * train,
                    "config": {**common, "layer": "relu4_1", "width": 32, "batch": 8,
                               "style_weight": 10.0}},
        "adain25": {"kind": "decoder", "data": str(data / "clean_content"),
                    "styles": str(data / "clean_styles"), "limit": train - 10,
                    "config": {**common, "layer": "relu4_1", "width": 32, "batch": 8,
                               "style_weight": 25.0}},
        "student": {"kind": "encoder", "data": str(data / "clean_content"),
                    "limit": 0.5 * train, "config": {**common, "width": 16, "batch": 16}},
        # The rest are not in the default set (--only). The first two networks trained on the
        # score's own distances (--loss-form distance).
        "starry-distance": style_job("starry", **distance),
        "wave-distance": style_job("wave", **distance),
        # CPU fine-tunes continued for as many steps as the GPU gives (experiments/NOTES.md: the
        # style-weight-6 Starry Night network of "Style weight, a cosine schedule, and relu5_1"
        # and the Great Wave network of "Fine-tuning on the score's own distances"), from
        # DATA/init/starry and DATA/init/wave, and the same at other style weights: Starry
        # Night at 8 (each step up in weight trades content for style along one line; do a
        # GPU's steps move the line?), Great Wave at 2 (its content distance down).
        "starry-finetune": finetune("starry", 5, 6.0),
        "wave-finetune": finetune("wave", 5, 4.0),
        "starry-finetune8": finetune("starry", 6, 8.0),
        "wave-finetune2": finetune("wave", 6, 2.0),
        # More capacity for `fast` (experiments/NOTES.md: width 20 1.55x the time a frame),
        # trained like starry-distance, its control. (A six-block job measured no gain; the
        # --blocks option is gone.)
        "starry-wide": style_job("starry", width=20, **distance),
        # Johnson's network, with the optimiser's objective and on the score's distances (does
        # a network 30x the size, with a wider receptive field, close the gap at relu5_1?).
        "starry-johnson": style_job("starry", arch="johnson"),
        "wave-johnson": style_job("wave", arch="johnson"),
        "starry-johnson-distance": style_job("starry", arch="johnson", **distance),
        # Starts when its teacher and encoder are written; its limit is what is left then.
        "distilled": {"kind": "decoder", "data": str(data / "clean_content"),
                      "styles": str(data / "clean_styles"), "after": ["adain10", "student"],
                      "until": train,
                      "config": {**common, "layer": "relu4_1", "width": 16, "batch": 8,
                                 "encoder": str(work / "student"),
                                 "teacher": str(work / "adain10")}},
    }


def run_job(name: str, spec: dict[str, Any], work: Path, device: str) -> None:
    """One training job, in this process; logs a line every 250 steps."""
    import torch

    from impasto.config import DecoderConfig, EncoderConfig, TrainConfig
    from impasto.training.decoder import train_decoder
    from impasto.training.encoder import train_encoder
    from impasto.training.trainer import train

    torch.set_num_threads(2)
    out = work / name
    started = time.perf_counter()

    def log(event: Any) -> None:
        if event.step % 250 == 0 or event.checkpoint:
            losses = " ".join(f"{k} {v:.4f}" for k, v in event.losses.items())
            print(f"{name} step {event.step} {losses} {event.step_seconds * 1000:.1f} ms/step "
                  f"{event.elapsed:.0f} s", flush=True)

    kind, cfg, limit = spec["kind"], spec["config"], float(spec["limit"])
    if kind == "style":
        result = train(spec["style"], spec["data"], out, TrainConfig(**cfg), device=device,
                       callback=log, time_limit=limit, name=name)
    elif kind == "decoder":
        result = train_decoder(spec["data"], out, DecoderConfig(**cfg), styles=spec["styles"],
                               device=device, callback=log, time_limit=limit, name=name)
    else:
        result = train_encoder(spec["data"], out, EncoderConfig(**cfg), device=device,
                               callback=log, time_limit=limit, name=name)
    print(f"{name} done: {result.steps} steps in {result.seconds:.0f} s "
          f"({time.perf_counter() - started:.0f} s with set-up) {result.losses}", flush=True)


#: The files the speed figures read, under DATA, and where ``--prepare`` takes them from.
MEASURE_INPUTS = {"bench/kodim23_parrots.jpg": "content/kodim23_parrots.jpg",
                  "styles/starry_night.jpg": "styles/starry_night.jpg",
                  "video/big_buck_bunny_10s.mp4": "video/big_buck_bunny_10s.mp4"}
#: What one returned file may hold (the device tool brings back files of up to 16 MiB).
MAX_PACK = 15 * 2**20


def pack(folder: Path, packs: Path, checkpoint: bool = True) -> Path:
    """``folder`` as ``packs/NAME.tgz``: the model, its config, the training log, the job's log,
    and the checkpoint too where it fits and ``checkpoint`` asks for it (so a later session
    can ``--resume`` the run)."""
    packs.mkdir(parents=True, exist_ok=True)
    path = packs / f"{folder.name}.tgz"
    files = [p for p in sorted(folder.rglob("*")) if p.is_file()]
    checkpoints = [p for p in files if p.name.startswith("checkpoint.")]
    if not checkpoint or sum(p.stat().st_size for p in files) > MAX_PACK:
        files = [p for p in files if p not in checkpoints]
    with tarfile.open(path, "w:gz") as tar:
        for item in files:
            tar.add(item, arcname=f"{folder.name}/{item.relative_to(folder)}")
    return path


def bundle(packs: Path, out: Path) -> Path:
    """Every pack so far in one ``out/models.tar`` (the device tool brings back at most 8
    files), rewritten after each job so that a run cut short still returns what finished."""
    path, partial = out / "models.tar", out / "models.tar.part"
    with tarfile.open(partial, "w") as tar:
        for item in sorted(packs.glob("*.tgz")):
            tar.add(item, arcname=item.name)
    partial.replace(path)
    return path


def preflight(plan: dict[str, dict[str, Any]], names: list[str]) -> list[str]:
    """What is missing before any job starts: every folder of pictures and every style file
    (a folder of symbolic links does not survive the copy to a device machine)."""
    from impasto.errors import ImpastoError
    from impasto.training.data import list_images

    problems = []
    for name in names:
        spec = plan[name]
        for key in ("data", "styles"):
            if spec.get(key):
                try:
                    list_images(spec[key])
                except ImpastoError as exc:
                    problems.append(f"{name}: {exc}")
        if spec.get("style") and not Path(spec["style"]).is_file():
            problems.append(f"{name}: style picture not found: {spec['style']}")
    return problems


def measure(data: Path, work: Path, out: Path, device: str, quick: bool) -> None:
    """GPU speed: feed-forward frames per second, AdaIN with the shipped decoders, 1920 x 1080
    video frames with temporal blending, the optimiser's default preset; ``out/measure.json``
    is rewritten after each figure, and a part that fails records its error and the rest go on."""
    import traceback

    import torch
    from PIL import Image

    from impasto.api import Stylizer
    from impasto.arbitrary import ArbitraryStylizer
    from impasto.image.io import open_image, to_tensor
    from impasto.models import architecture, load_model, save_model
    from impasto.models.inference import TorchBackend

    dev = torch.device(device)
    results: dict[str, Any] = {"torch": torch.__version__, "device": device}
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        results["gpu"] = torch.cuda.get_device_name(dev)
        results["cuda"] = torch.version.cuda
    target = out / "measure.json"

    def record(key: str, value: Any) -> None:
        results[key] = value
        target.write_text(json.dumps(results, indent=2))
        print(f"measure {key}: {value}", flush=True)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    def timed(fn: Any, repeats: int) -> float:
        for _ in range(3):
            fn()
        sync()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - t)
        times.sort()
        return times[len(times) // 2]

    repeats = 3 if quick else 30
    content = open_image(data / "bench" / "kodim23_parrots.jpg").convert("RGB")
    style_img = open_image(data / "styles" / "starry_night.jpg").convert("RGB")
    style_img.thumbnail((512, 512), Image.Resampling.LANCZOS)
    style_t = to_tensor(style_img)
    trained = [work / f"builtin-{name}" for name in BUILTIN] + [work / "starry"]
    model_dir = next((m for m in trained if (m / "model.safetensors").is_file()), None)

    def part(name: str, fn: Any) -> None:
        started = time.perf_counter()
        try:
            fn()
        except Exception as exc:  # a failed part is recorded; the others still run
            record(f"{name}_error", f"{type(exc).__name__}: {exc}")
            traceback.print_exc()
        print(f"part {name}: {time.perf_counter() - started:.1f} s", flush=True)

    def feedforward() -> None:
        """Trained `fast` (a built-in style's) and an untrained `johnson` (speed only)."""
        nets = {}
        if model_dir is not None:
            nets["fast"] = load_model(model_dir)
        torch.manual_seed(0)
        nets["johnson"] = load_model(save_model(work / "johnson-untrained",
                                                architecture("johnson").build().eval(),
                                                "johnson", {}, {"name": "untrained johnson"}))
        fps: dict[str, Any] = {"model": model_dir.name if model_dir else None}
        sizes = {"128x128": (128, 128)} if quick else {"512x512": (512, 512),
                                                       "1920x1080": (1080, 1920)}
        for label, (h, w) in sizes.items():
            for arch, model in nets.items():
                for precision in ("fp16", "bf16"):
                    backend = TorchBackend(model, device=dev, precision=precision,
                                           channels_last=True)
                    x = torch.rand(1, 3, h, w, device=dev)
                    s = timed(lambda b=backend, t=x: b(t), repeats)
                    x_host = torch.rand(1, 3, h, w)
                    s_host = timed(lambda b=backend, t=x_host: b(t).cpu(), repeats)
                    fps[f"{label} {arch} {precision}"] = {
                        "ms": round(s * 1000, 3), "fps": round(1 / s, 1),
                        "fps_with_host_copies": round(1 / s_host, 1)}
            record("feedforward", fps)

    def adain() -> None:
        """The shipped pairs: VGG-19 + its decoder, the distilled encoder + its decoder; the
        style encoded in every call, or its statistics prepared once; a batch of 8 pictures."""
        figures: dict[str, Any] = {}
        for label, encoder in (("vgg19", "vgg19"), ("distilled", "student-relu4_1")):
            s = ArbitraryStylizer("adain", device=dev, precision="bf16", channels_last=True,
                                  encoder=encoder)
            stats = s.style_stats(style_t)
            for side in ((128,) if quick else (512, 2048)):
                x = to_tensor(content.resize((side, side), Image.Resampling.LANCZOS)).to(dev)
                each = timed(lambda t=x, s=s: s.stylize_tensor(t, [s.style_stats(style_t)]),
                             repeats)
                prepared = timed(lambda t=x, s=s, st=stats: s.stylize_tensor(t, [st]), repeats)
                row = {"ms": round(each * 1000, 2), "fps": round(1 / each, 1),
                       "ms_style_prepared": round(prepared * 1000, 2),
                       "fps_style_prepared": round(1 / prepared, 1)}
                if side <= 512:
                    batch = x.expand(8, -1, -1, -1).contiguous()
                    stacked = timed(lambda t=batch, s=s, st=stats: s.stylize_tensor(t, [st]),
                                    repeats)
                    row["pictures_per_s_batch8_style_prepared"] = round(8 / stacked, 1)
                figures[f"{label} {side}x{side}"] = row
                record("adain", figures)

    def video() -> None:
        """Frames of the clip (decoded with OpenCV, scaled to 1920 x 1080, held in memory)
        through the frame generator: flow, the method, the blend; no decoding or encoding."""
        import cv2

        from impasto.video.frames import stylize_frames

        capture = cv2.VideoCapture(str(data / "video" / "big_buck_bunny_10s.mp4"))
        count, size = (6, (192, 108)) if quick else (72, (1920, 1080))
        frames = []
        while len(frames) < count:
            ok, bgr = capture.read()
            if not ok:
                break
            frames.append(cv2.resize(bgr, size, interpolation=cv2.INTER_CUBIC)[:, :, ::-1].copy())
        runs = {"network temporal": ("network", {"model": str(model_dir)}, None),
                "network frame by frame": ("network", {"model": str(model_dir)}, 0.0),
                "adain temporal": ("adain", {}, None),
                "adain frame by frame": ("adain", {}, 0.0)}
        figures: dict[str, Any] = {"frames": len(frames), "size": f"{size[0]}x{size[1]}",
                                   "style": "starry-night",
                                   "what": "flow + method + blend on decoded frames in "
                                           "memory; decoding and encoding not included"}
        for label, (method, options, temporal) in runs.items():
            if method == "network" and model_dir is None:
                continue
            warm = 8 if not quick else 2
            started = None
            done = 0
            style = () if method == "network" else "starry-night"  # a network paints its own
            for i, out in enumerate(stylize_frames(frames, style, method=method,
                                                    options=options, temporal=temporal,
                                                    device=dev)):
                assert out.shape == frames[0].shape
                if i + 1 == warm:
                    started = time.perf_counter()
                elif i + 1 > warm:
                    done += 1
            seconds = time.perf_counter() - started
            figures[label] = {"fps": round(done / seconds, 1), "frames_timed": done}
            record("video_1080p", figures)

    def optimiser() -> None:
        """The default preset (seconds end to end and peak GPU memory)."""
        stylizer = Stylizer(device=dev)
        figures: dict[str, Any] = {}
        for side in ((96,) if quick else (512, 512, 1024)):
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
            t = time.perf_counter()
            stylizer.stylize(content, "starry-night", size=side, seed=0)
            sync()
            key = str(side) if str(side) not in figures else f"{side} again"
            figures[key] = {"seconds": round(time.perf_counter() - t, 2)}
            if dev.type == "cuda":
                figures[key]["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated(dev) / 2**20)
            record("optimiser_default_preset", figures)

    part("feedforward", feedforward)
    part("adain", adain)
    part("video", video)
    part("optimiser", optimiser)


def prepare(shared: Path, data: Path) -> None:
    """DATA for ``--builtin`` and the speed figures, from ``../shared/data`` (SHARED): ``open/``
    (the licence-clean photos with their manifest, each resized to a short side of 256 px so
    that the folder travels: about 21 MB), and the speed figures' inputs (MEASURE_INPUTS)."""
    import shutil
    import tempfile

    from impasto.training.data import load_rgb

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, str(HERE.parent / "scripts" / "training_set.py"), tmp,
                        "--source", str(shared / "train"), "--folders", "open_photos",
                        "coco-clean"], check=True)
        folder = data / "open"
        folder.mkdir(parents=True, exist_ok=True)
        for item in sorted((Path(tmp) / "content").iterdir()):
            if item.suffix == ".json":
                shutil.copy(item, folder / item.name)
            else:  # the trainer's own resize, done once here
                load_rgb(item, 256).save(folder / f"{item.stem}.jpg", quality=92)
    for name, source in MEASURE_INPUTS.items():
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shared / source, data / name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path("/tmp/impasto-gpu-session"))
    ap.add_argument("--budget", type=float, default=450.0, help="Seconds for everything.")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--job", help=argparse.SUPPRESS)
    ap.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--only", nargs="*", help="Run only these jobs (and measure).")
    ap.add_argument("--builtin", action="store_true",
                    help="Run the built-in styles' networks (BUILTIN), with --only's jobs.")
    ap.add_argument("--tune", type=float, nargs="+", default=[], metavar="W",
                    help="Continue each built-in style's shipped network at these style "
                         "weights (jobs tune<W>-<style>).")
    ap.add_argument("--no-measure", action="store_true",
                    help="Train only: no speed figures, their time goes to training.")
    ap.add_argument("--prepare", type=Path, metavar="SHARED",
                    help="Write DATA for --builtin and the speed figures from SHARED "
                         "(../shared/data), then stop.")
    args = ap.parse_args()
    data, out, work = args.data.resolve(), args.out.resolve(), args.work.resolve()
    if args.prepare:
        shared = args.prepare.resolve()
        missing = [p for p in ("train", *MEASURE_INPUTS.values()) if not (shared / p).exists()]
        if missing:
            print(f"not prepared: {shared} has no {', '.join(missing)}", flush=True)
            return 2
        prepare(shared, data)
        return 0
    plan = jobs(data, work, args.budget, measure=not args.no_measure,
                tune_weights=tuple(args.tune))
    if args.job:
        spec = json.loads(os.environ["IMPASTO_JOB"])
        run_job(args.job, spec, work, args.device)
        return 0
    if args.measure:
        measure(data, work, out, args.device, quick=args.device == "cpu")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONUNBUFFERED": "1"}
    chosen = set(args.only or ()) | ({n for n in plan if plan[n].get("builtin")}
                                     if args.builtin else set()) | {
        n for n in plan if plan[n].get("tune")}
    names = [n for n in plan if (n in chosen if chosen else not plan[n].get("optional"))]
    unknown = sorted(set(args.only or ()) - set(plan))
    problems = preflight(plan, names) + [f"unknown job: {n}" for n in unknown]
    if not args.no_measure:
        problems += [f"measure: {p} not found" for p in MEASURE_INPUTS if not (data / p).is_file()]
    if problems:
        print("not started:\n  " + "\n  ".join(problems), flush=True)
        return 2
    running: dict[str, subprocess.Popen[bytes]] = {}
    finished: set[str] = set()
    failed: list[str] = []

    def launch(name: str) -> None:
        spec = dict(plan[name])
        if "until" in spec:
            spec["limit"] = max(5.0, spec["until"] - (time.perf_counter() - start))
        log = (work / f"{name}.log").open("w")
        running[name] = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--data", str(data), "--out",
             str(out), "--work", str(work), "--budget", str(args.budget), "--device",
             args.device, "--job", name],
            env={**env, "IMPASTO_JOB": json.dumps(spec)}, stdout=log, stderr=subprocess.STDOUT)
        print(f"[{time.perf_counter() - start:5.0f} s] started {name} "
              f"(limit {spec['limit']:.0f} s)", flush=True)

    for name in names:
        if not plan[name].get("after"):
            launch(name)
    while running or any(n not in finished and n not in failed and n not in running
                         for n in names):
        time.sleep(1.0)
        for name, proc in list(running.items()):
            if proc.poll() is None:
                continue
            del running[name]
            tail = (work / f"{name}.log").read_text().strip().splitlines()[-3:]
            if proc.returncode == 0 and (work / name / "model.safetensors").is_file():
                finished.add(name)
                (work / name / "job.log").write_text((work / f"{name}.log").read_text())
                # A continued run keeps no checkpoint: its start ships, and the bundle stays
                # under what one returned file may hold.
                packed = pack(work / name, work / "packs", checkpoint=not plan[name].get("tune"))
                bundle(work / "packs", out)
                print(f"[{time.perf_counter() - start:5.0f} s] {name} finished: "
                      f"{tail[-1] if tail else ''} -> {packed.name}", flush=True)
            else:
                failed.append(name)
                print(f"[{time.perf_counter() - start:5.0f} s] {name} FAILED "
                      f"({proc.returncode}): " + " | ".join(tail), flush=True)
        for name in names:
            needs = plan[name].get("after")
            if not needs or name in running or name in finished or name in failed:
                continue
            if any(n in failed or n not in names for n in needs):
                failed.append(name)
                print(f"{name} skipped: it needs {needs}", flush=True)
            elif all(n in finished for n in needs):
                launch(name)
    if args.no_measure:
        print(f"[{time.perf_counter() - start:5.0f} s] done; failed jobs: {failed}", flush=True)
        return 1 if failed else 0
    left = args.budget - (time.perf_counter() - start) - 10
    print(f"[{time.perf_counter() - start:5.0f} s] measuring ({left:.0f} s left)", flush=True)
    with (out / "measure.log").open("w") as log:
        try:
            code = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--data", str(data), "--out",
                 str(out), "--work", str(work), "--device", args.device, "--measure"],
                env=env, stdout=log, stderr=subprocess.STDOUT, timeout=max(left, 10)).returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
    print(f"[{time.perf_counter() - start:5.0f} s] measure: {code}; failed jobs: {failed}",
          flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
