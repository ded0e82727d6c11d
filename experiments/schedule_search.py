"""Lab: quality against cost for explicit step schedules of the optimiser's pyramid.

A schedule is ``NAME:sides=192/314/512,steps=151/92/57[,checks=20/30/40][,option=value...]``:
the long side and the steps of each scale, and (``checks``) the final-scale step counts at
which the picture is also scored. A run truncated after k final-scale steps is exactly the run
whose schedule ends with k steps (L-BFGS does not look ahead), so one run gives the cost and
quality of every ``checks`` variant. Any other ``option=value`` is a ``TransferConfig`` option
(``init=adain``, ``strength=0.45``), except ``style_factors=A/B/C``, each scale's style weight
times its factor (lab only). ``--base`` takes the ratios' reference (the first
schedule) from an earlier run of the same pairs and seed instead of running it again.

Cost is in VGG steps (benchmarks/vgg_steps.py): render seconds up to that step, over one fp32
forward + backward of VGG-19 at 512 x 341 timed in the same run. Scores: impasto.score.

    python experiments/schedule_search.py --split validation --pairs 5 \\
        --schedule default:sides=192/314/512,steps=151/92/57,checks=20/30/40 \\
        --json experiments/results/schedule_search.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _common import (
    add_split_argument,
    data_dir,
    pair_name,
    run_header,
    split_pairs,
    table,
    write_json,
)
from vgg_steps import vgg_step_seconds


def parse_schedule(text: str) -> dict[str, Any]:
    name, _, spec = text.partition(":")
    out: dict[str, Any] = {"name": name, "options": {}, "checks": []}
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        if key == "sides":
            out["sides"] = [int(v) for v in value.split("/")]
        elif key == "steps":
            out["steps"] = [int(v) for v in value.split("/")]
        elif key == "checks":
            out["checks"] = [int(v) for v in value.split("/")]
        elif key == "style_factors":  # lab only: each scale's style weight times this
            out["style_factors"] = [float(v) for v in value.split("/")]
        else:
            try:
                out["options"][key] = float(value) if "." in value else int(value)
            except ValueError:
                out["options"][key] = value
    if len(out["sides"]) != len(out["steps"]):
        sys.exit(f"error: {text!r}: sides and steps differ in length")
    if len(out.get("style_factors", out["sides"])) != len(out["sides"]):
        sys.exit(f"error: {text!r}: style_factors and sides differ in length")
    out["checks"] = sorted({*out["checks"], out["steps"][-1]})
    return out


def evaluations(sides: list[int], steps: list[int]) -> float:
    """Steps weighted by each scale's pixels against the finest: the exact cost in
    evaluations at the final size, free of the machine's noise."""
    return sum(n * (side / sides[-1]) ** 2 for side, n in zip(sides, steps, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--schedule", action="append", required=True)
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    parser.add_argument("--json", default=None)
    parser.add_argument("--base", default=None,
                        help="ratios to the first schedule of this earlier run's JSON")
    parser.add_argument("--start-strength", type=float, default=None,
                        help="the AdaIN start's strength (its blend with the photo; default 1)")
    add_split_argument(parser)
    args = parser.parse_args()

    import impasto
    from impasto.image.io import to_pil
    from impasto.optim import transfer

    schedules = [parse_schedule(s) for s in args.schedule]
    chosen = split_pairs(data_dir(args.data), args.split, args.pairs)
    out = Path(args.out) if args.out else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    pipeline = impasto.Pipeline("cpu")
    current: dict[str, Any] = {}
    transfer.scale_sides = lambda long_side, scales, start: list(current["sides"])
    transfer.schedule = lambda sides, total, start: list(current["steps"])
    scale_objective = transfer.scale_objective

    def weighted_objective(*args: Any, style_weight: float, **kwargs: Any) -> Any:
        """The scale's objective with its style weight times the schedule's factor."""
        factors = current.get("style_factors") or []
        index = current["scale"] = current.get("scale", -1) + 1
        factor = factors[index] if index < len(factors) else 1.0
        return scale_objective(*args, style_weight=style_weight * factor, **kwargs)

    transfer.scale_objective = weighted_objective
    if args.start_strength is not None:  # the AdaIN start nearer the photo (lab only)
        import functools

        from impasto.config import ArbitraryOptions
        from impasto.pipeline import engines

        engines.ArbitraryOptions = functools.partial(ArbitraryOptions,
                                                     strength=args.start_strength)
    for sched in schedules:  # warm-up: loads VGG-19 and the decoders
        current.update(sides=[64], steps=[1])
        pipeline.render(impasto.Request(chosen[0][0], chosen[0][1], options={
            **sched["options"], "size": 64, "precision": args.precision}))
    unit_before = vgg_step_seconds(5)
    rows: list[dict[str, Any]] = []
    for content, style in chosen:
        for sched in schedules:
            current.update(sides=sched["sides"], steps=sched["steps"], scale=-1,
                           style_factors=sched.get("style_factors"))
            n_final = sched["steps"][-1]
            final_index = len(sched["steps"])
            snaps: dict[int, tuple[float, Any]] = {}

            def on_event(event: Any, snaps: dict = snaps, sched: dict = sched,
                         n_final: int = n_final, final_index: int = final_index) -> None:
                if (event.stage == "step" and event.scale == final_index
                        and event.scale_step in sched["checks"] and event.image is not None):
                    snaps[event.scale_step] = (event.elapsed, event.image)

            options = {"size": max(sched["sides"]), "seed": args.seed,
                       "precision": args.precision, "iterations": sum(sched["steps"]),
                       "preview_every": 1, **sched["options"]}
            result = pipeline.render(impasto.Request(content, style, options=options),
                                     callback=on_event)
            total = result.timings["render"]
            last_elapsed = snaps[n_final][0]
            for k in sched["checks"]:
                elapsed, image = snaps[k]
                scores = impasto.score(content, style, to_pil(image))
                rows.append({"pair": pair_name(content, style), "schedule": sched["name"],
                             "final_steps": k, "render_seconds": total - (last_elapsed - elapsed),
                             **scores.to_dict()})
                print(f"{pair_name(content, style)} {sched['name']}@{k}: "
                      f"{rows[-1]['render_seconds']:.1f} s, style {scores.style_distance:.4f}, "
                      f"content {scores.content_distance:.4f}, ssim {scores.ssim:.3f}",
                      flush=True)
            if out is not None:
                result.save(out / f"{pair_name(content, style)}_{sched['name']}.png")
    unit_after = vgg_step_seconds(5)
    unit = statistics.median([unit_before, unit_after])
    for r in rows:
        r["vgg_steps"] = r["render_seconds"] / unit
    if args.base:  # the first schedule of an earlier run (the same pairs and seed)
        earlier = json.loads(Path(args.base).read_text())
        first = earlier["summary"][0]
        base = [r for r in earlier["rows"] if r["schedule"] == first["schedule"]
                and r["final_steps"] == max(x["final_steps"] for x in earlier["rows"]
                                            if x["schedule"] == first["schedule"])]
    else:
        base = [r for r in rows if r["schedule"] == schedules[0]["name"]
                and r["final_steps"] == schedules[0]["steps"][-1]]
    base_by_pair = {r["pair"]: r for r in base}
    summary = []
    for sched in schedules:
        for k in sched["checks"]:
            mine = [r for r in rows if r["schedule"] == sched["name"] and r["final_steps"] == k]
            summary.append({
                "schedule": sched["name"], "final_steps": k, "sides": sched["sides"],
                "steps": [*sched["steps"][:-1], k], "options": sched["options"],
                "style_factors": sched.get("style_factors"),
                "vgg_steps": statistics.mean(r["vgg_steps"] for r in mine),
                "evaluations_512": evaluations(sched["sides"], [*sched["steps"][:-1], k]),
                "style_vs_first": statistics.mean(
                    r["style_distance"] / base_by_pair[r["pair"]]["style_distance"] for r in mine),
                "content_vs_first": statistics.mean(
                    r["content_distance"] / base_by_pair[r["pair"]]["content_distance"]
                    for r in mine),
                "ssim": statistics.mean(r["ssim"] for r in mine),
            })
    print(f"unit {unit:.3f} s (before {unit_before:.3f}, after {unit_after:.3f})")
    print(table(["schedule", "steps", "evaluations", "VGG steps", "style/first",
                 "content/first", "SSIM"],
                [[s["schedule"], "/".join(map(str, s["steps"])), f"{s['evaluations_512']:.1f}",
                  f"{s['vgg_steps']:.1f}",
                  f"{s['style_vs_first']:.3f}", f"{s['content_vs_first']:.3f}",
                  f"{s['ssim']:.3f}"] for s in summary]))
    write_json(args.json, {**run_header(Path(__file__).stem), "split": args.split,
                           "precision": args.precision, "unit_seconds": unit,
                           "summary": summary, "rows": rows})


if __name__ == "__main__":
    main()
