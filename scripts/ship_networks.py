"""Ship trained per-style networks of built-in styles inside the package.

    python scripts/ship_networks.py CANDIDATE ... --manifest DATA/open/manifest.json \\
        --validation docs/results/network_quality_builtin_validation.json \\
        --quality docs/results/network_quality_builtin.json

Each CANDIDATE is a model folder the trainer wrote (``impasto train``, or a pack of
``experiments/gpu_session.py --builtin`` / ``--tune``) for a style whose picture is a built-in
style's (its ``config.json`` records the picture's SHA-256; any other style is refused). A
style may have several candidates: one trained from scratch, others continued from it at
other style weights (``training.init``). Per style one is chosen on the validation split
(``--validation``: ``benchmarks/network.py --mode quality --split validation`` of every
candidate) by the rule of :func:`choose`, fixed before any validation score was seen, and
written to ``src/impasto/models/pretrained/fast-<style>/`` (float16 weights, a ``config.json``
with the model card); the style's ``network`` field of ``styles/library.json`` names it, so
``impasto stylize PHOTO <style> --method network`` and ``impasto webcam --style <style>`` use
it.

The card records the recipe and steps (the trainer's own record, and the run it continued),
the training set (every file's name and SHA-256 from ``--manifest``, the ``manifest.json``
that ``scripts/training_set.py --folders ...`` wrote for the photos it trained on, and which
folders they came from), the style's record, the final losses, the choice, and the scores of
``--quality`` (``benchmarks/network.py --mode quality`` on the benchmark photos: mean style and
content distance of the network and of the optimiser's default preset).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PRETRAINED = REPO / "src" / "impasto" / "models" / "pretrained"
LIBRARY = REPO / "src" / "impasto" / "styles" / "library.json"
#: The name a style's shipped network gets: architecture, then the style.
NAME = "fast-{style}"
LICENCE = ("MIT, like the package. The style is a public-domain painting; the training photos' "
           "CC BY / BY-SA terms cover the photos, not weights learned from them: they are "
           "credited in ATTRIBUTIONS.md.")


#: The goal a shipped network is chosen for: its style distance within this many times the
#: optimiser's (default preset, the same style) ...
GOAL_STYLE = 1.5
#: ... at a content distance within this many times the optimiser's.
GOAL_CONTENT = 1.3


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def scores_for(quality: dict[str, Any], model: str) -> dict[str, Any]:
    """The scores of ``model`` in a ``network.py --mode quality`` record, either split
    (``quality["path"]``: where that record is, as the card names it)."""
    mine = [r for r in quality.get("records", []) if r["model"] == model]
    if not mine:
        fail(f"{model} has no scores in the --quality record")

    def mean(side: str, key: str) -> float:
        return round(sum(r[side][key] for r in mine) / len(mine), 4)

    machine = quality.get("machine") or {}
    return {"split": quality.get("split", "benchmark"), "photos": [r["photo"] for r in mine],
            "size": quality.get("size"), "date": quality.get("date"),
            "machine": f"{machine.get('cpu')} (family {machine.get('cpu_family')}, model "
                       f"{machine.get('cpu_model')}), {machine.get('cpus_usable')} cores",
            "record": quality["path"],
            "network": {"style_distance": mean("network", "style_distance"),
                        "content_distance": mean("network", "content_distance")},
            "optimiser_default_preset": {
                "style_distance": mean("optimisation", "style_distance"),
                "content_distance": mean("optimisation", "content_distance")}}


def ratios(quality: dict[str, Any], model: str) -> tuple[float, float]:
    """The network's mean style and content distances over the optimiser's, in ``quality``."""
    scores = scores_for(quality, model)
    net, opt = scores["network"], scores["optimiser_default_preset"]
    return (net["style_distance"] / opt["style_distance"],
            net["content_distance"] / opt["content_distance"])


def choose(candidates: list[str], validation: dict[str, Any]) -> tuple[str, str]:
    """The candidate to ship, and why: of those within both goals on the validation split
    (style distance at most ``GOAL_STYLE`` times the optimiser's, content distance at most
    ``GOAL_CONTENT`` times), the lowest style ratio; when none is within both, the nearest to
    both (the lowest of the larger of the two ratios, each over its goal)."""
    found = {m: ratios(validation, m) for m in candidates}
    within = [m for m, (s, c) in found.items() if s <= GOAL_STYLE and c <= GOAL_CONTENT]
    if within:
        chosen = min(within, key=lambda m: found[m][0])
    else:
        chosen = min(found, key=lambda m: max(found[m][0] / GOAL_STYLE,
                                              found[m][1] / GOAL_CONTENT))
    table = "; ".join(f"{m}: style x{s:.2f}, content x{c:.2f}" for m, (s, c) in found.items())
    rule = ("the one within both goals with the lowest style ratio" if within else
            "none was within both goals: the one nearest both")
    photos = ", ".join(validation_photos(validation, chosen))
    return chosen, (f"Chosen among {len(found)} candidates on the validation split ({photos}; "
                    f"none a benchmark photo or in the training set), against the optimiser's "
                    f"default preset with the same style: {table} ({rule}; goals: style within "
                    f"{GOAL_STYLE}x, content within {GOAL_CONTENT}x; the rule was fixed before "
                    "any validation score was seen).")


def validation_photos(quality: dict[str, Any], model: str) -> list[str]:
    return [r["photo"] for r in quality.get("records", []) if r["model"] == model]


def card(style: Any, training: dict[str, Any], manifest: dict[str, Any],
         scores: dict[str, Any], session: str, choice: str) -> dict[str, str]:
    net, opt = scores["network"], scores["optimiser_default_preset"]
    base = training.get("continued_from")
    steps = training["steps_done"] + (base["steps"] if base else 0)
    recipe = (
        f"{training['steps_done']} steps of {training['batch']} x {training['size']} px crops "
        f"in {training['seconds_total']:.0f} s on one GPU ({session}), "
        f"{training['precision']} autocast, Adam at {training['learning_rate']}, style weight "
        f"{training['style_weight']} with the {training['loss_form']} loss form")
    if base:
        recipe = (f"{base['steps']} steps at style weight {base['style_weight']} in "
                  f"{base['seconds']:.0f} s ({base['name']}), then, from those weights halved "
                  f"to float16, {recipe}")
    by_licence = ", ".join(f"{k} {v}" for k, v in sorted(
        manifest["summary"]["by_licence"].items()))
    return {
        "summary": (
            f"Per-style feed-forward network for the built-in style {style.name} "
            f"({style.title}, {style.artist}, {style.year}): the `fast` shape (width "
            f"{training['width']}, the CPU-fast one), {recipe}; the style picture at "
            f"{training['style_size']} px (512 x the style's own style_scale "
            f"{style.style_scale})."),
        "training_pictures": (
            f"{manifest['summary']['pictures']} licence-clean photos ({by_licence}), from the "
            f"folders {', '.join(manifest['folders'])} of ../shared/data/train; no "
            "research-only picture, no picture of the benchmark pairs. The last "
            f"{len(training['held_out'])} by name were held out."),
        "training_set": (
            "python scripts/training_set.py OUT --folders "
            f"{' '.join(manifest['folders'])} rebuilds the photos (OUT/content, with its "
            "manifest.json); training.training_files lists them (name, SHA-256 of the file in "
            "the shared data). Before training each was resized to a short side of "
            f"{training['size']} px (experiments/gpu_session.py --prepare), the trainer's "
            "crop size, so what the trainer saw is unchanged."),
        "selection": (
            f"{choice} On the benchmark photos ({', '.join(scores['photos'])}; none in the "
            f"training set) at {scores['size']} px: mean style distance "
            f"{net['style_distance']:.3f} against the optimiser's {opt['style_distance']:.3f} "
            f"(x{net['style_distance'] / opt['style_distance']:.2f}) at content distance "
            f"{net['content_distance']:.3f} against {opt['content_distance']:.3f} "
            f"(x{net['content_distance'] / opt['content_distance']:.2f})."),
        "limits": (
            f"{steps} steps in all is short: the style loss of the run from scratch was still "
            "falling when its time ran out (the training logs are in experiments/results/); "
            "continue it with impasto "
            f"train STYLE --data PHOTOS --arch fast --init {NAME.format(style=style.name)} "
            "(the optimiser's state starts afresh). A network paints every photo alike: the "
            "optimiser's picture keeps more of the photo at the same style distance. Seen at "
            "100 %, flat areas carry a fine grain of single pixels (the training had no "
            "smoothing term: tv_weight 0)."),
    }


def builtin_of(model: Any, folder: Path) -> Any:
    """The built-in style whose picture ``model`` was trained on (refused if none)."""
    from impasto.styles.library import style_with_sha256

    record = model.config.get("style") or {}
    style = style_with_sha256(record.get("sha256"))
    if style is None:
        fail(f"{folder}: its style picture ({record.get('file')}) is not a built-in style's")
    return style


def ship(model: Any, base: Any | None, manifest: dict[str, Any], quality: dict[str, Any],
         session: str, choice: str, out: Path) -> str:
    """Write the shipped model of ``model`` (continued from ``base``, when it was); return
    its name."""
    import torch

    from impasto.models import save_model

    style = builtin_of(model, model.path)
    training = dict(model.config["training"])
    names = [e["name"] for e in manifest["files"]]
    if training["held_out"] != names[-len(training["held_out"]):] or (
            training["pictures"] + len(training["held_out"]) != len(names)):
        fail(f"{model.path}: it was not trained on the --manifest set ({training['pictures']} "
             f"pictures + {len(training['held_out'])} held out, the set has {len(names)})")
    if training.get("init") and base is None:
        fail(f"{model.path} continued {training['init'].get('name')}: give the run it "
             "continued as a candidate too")
    if training.get("init"):
        before = base.config["training"]
        training["continued_from"] = {
            "name": base.name, "steps": before["steps_done"],
            "seconds": before["seconds_total"], "style_weight": before["style_weight"],
            "history": before["history"], "final_losses": before["final_losses"],
            "weights": "its float16 weights (training.init.sha256), as shipped before"}
    training["training_files"] = [{"name": e["name"], "sha256": e["sha256"]}
                                  for e in manifest["files"]]
    training["training_set"] = {"folders": manifest["folders"],
                                "resized_short_side": training["size"]}
    name = NAME.format(style=style.name)
    scores = scores_for(quality, model.name)
    info = {"name": name, "method": model.config.get("method"),
            "style": {**model.config["style"], "builtin": style.name},
            "licence": LICENCE, "software": model.config.get("software"),
            "trained_as": model.name, "training": training,
            "card": card(style, training, manifest, scores, session, choice),
            "scores": scores, "float16": halving_error(model)}
    save_model(out / name, model.net, model.arch, model.params, info, dtype=torch.float16)
    return name


def halving_error(model: Any) -> dict[str, Any]:
    """How much storing the weights as float16 changes the network's picture of the demo's
    photo (levels of 255): the scores were measured with the float32 weights."""
    import copy

    import numpy as np
    import torch

    from impasto.image.samples import demo_content

    photo = torch.from_numpy(demo_content()).permute(2, 0, 1)[None].float() / 255
    half = copy.deepcopy(model.net)
    with torch.no_grad():
        for param in half.parameters():
            param.copy_(param.half().float())
        diff = (half(photo) - model.net(photo)).clamp(-1, 1).abs() * 255
    return {"picture": "the demo's photo (chelsea, 451 x 300)",
            "mean_abs_difference_levels": round(float(diff.mean()), 3),
            "max_abs_difference_levels": round(float(np.max(diff.numpy())), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidates", type=Path, nargs="+", help="trained model folders")
    parser.add_argument("--manifest", type=Path, required=True,
                        help="manifest.json of the photos they trained on")
    parser.add_argument("--validation", type=Path, required=True,
                        help="benchmarks/network.py --mode quality --split validation JSON "
                             "with every candidate")
    parser.add_argument("--quality", type=Path, required=True,
                        help="benchmarks/network.py --mode quality JSON (the benchmark "
                             "photos) with every chosen candidate")
    parser.add_argument("--session", default="an NVIDIA H200 shared with the other runs of its "
                                             "session",
                        help="the GPU and how it was shared, for the card")
    parser.add_argument("--out", type=Path, default=PRETRAINED)
    parser.add_argument("--library", type=Path, default=LIBRARY)
    args = parser.parse_args(argv)
    for path in (args.manifest, args.validation, args.quality, args.library,
                 *args.candidates):
        if not path.exists():
            fail(f"{path} does not exist")
    from impasto.models import load_model

    manifest = json.loads(args.manifest.read_text(encoding="utf-8"))
    records = {}
    for key, path in (("validation", args.validation), ("quality", args.quality)):
        records[key] = json.loads(path.read_text(encoding="utf-8"))
        where = path.resolve()
        records[key]["path"] = (where.relative_to(REPO).as_posix()
                                if where.is_relative_to(REPO) else str(path))
    by_style: dict[str, list[Any]] = {}
    for folder in args.candidates:
        model = load_model(folder)
        by_style.setdefault(builtin_of(model, folder).name, []).append(model)
    shipped = {}
    for style, models in sorted(by_style.items()):
        chosen, why = choose([m.name for m in models], records["validation"])
        model = next(m for m in models if m.name == chosen)
        base = next((m for m in models if not m.config["training"].get("init")), None)
        shipped[style] = ship(model, base, manifest, records["quality"], args.session, why,
                              args.out)
        print(f"{style}: {chosen} -> {args.out / shipped[style]}")
    library = json.loads(args.library.read_text(encoding="utf-8"))
    for record in library["styles"]:
        if record["name"] in shipped:
            record["network"] = shipped[record["name"]]
    args.library.write_text(json.dumps(library, indent=2, ensure_ascii=False) + "\n",
                            encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
