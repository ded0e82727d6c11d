"""The cost of a finished picture in VGG steps, a unit that travels between machines, beside its
quality.

The unit: one **VGG step** is one forward and backward pass of plain fp32 VGG-19 up to relu5_1
at 512 x 341 (the default picture's size), to the pixels, timed in the same run as the
presets (median of ``--unit-repeats`` after a warm-up), before the first picture, after every
picture, and inside each picture between two of its steps every ``--unit-every`` seconds. A
picture's cost is the seconds it takes to render (the pipeline's ``render`` timing, less the
units timed inside it: the optimisation, and the AdaIN picture for a progressive start;
reading files and loading VGG-19 and the decoders are not counted: every preset first runs
once on a small picture), each stretch between two units divided by the mean of those two, so
the figure means the same on a fast and a slow CPU, and on a machine whose speed drifts within
a picture.
``--precision fp32`` stands in for a CPU without bf16 on one that has it; ``auto`` is what the
runtime policy picks.

Each preset runs on ``--pairs`` pairs of the ``--split`` (benchmark pairs by default; choose
presets on ``--split validation``) and is scored with :func:`impasto.score` (style and content
distance, SSIM), so a cheaper preset shows what it costs in quality. A preset is
``NAME[:option=value,...]`` over the optimiser's options (``TransferConfig``), e.g.
``progressive:init=adain,iterations=150``. One key is the benchmark's own: ``layout=nchw`` or
``layout=channels_last`` sets the memory layout of the optimiser's VGG-19 where the runtime
policy would choose it (bf16 on a CPU; the policy's choice depends on AMX alone, which the
preset overrides), so one run compares the two on whole pictures. ``--reference JSON`` takes
the first preset's rows (the ratios' reference: the photo start's 300 steps, several times the
default's cost) from an earlier run of the same pairs, precision, size and seed instead of
rendering them again; its pictures do not depend on the clock, and the JSON names the commit
that file came from.

Run from the repository root (with the venv active)::

    python benchmarks/vgg_steps.py --precision fp32 --pairs 5 \\
        --preset classic:init=content,carry_detail=0,carry_curvature=0,multiscale=0 \\
        --preset default \\
        --json docs/results/vgg_steps_fp32.json
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from _common import (
    add_split_argument,
    data_dir,
    median_seconds,
    pair_name,
    run_header,
    split_pairs,
    table,
    write_json,
)

#: The unit's picture: the default output size of a 3:2 photo.
UNIT_SIZE = (341, 512)


def vgg_step_seconds(repeats: int) -> float:
    """Median seconds of one fp32 forward + backward pass of VGG-19 to relu5_1 at 512 x 341."""
    return median_seconds(_unit_step(), repeats)


@functools.lru_cache(maxsize=1)
def _unit_step() -> Any:
    """The unit's pass, VGG-19 built once (it is timed between a picture's steps too)."""
    from impasto.features.vgg import VGG19

    vgg = VGG19(["relu5_1"])
    x = torch.rand(1, 3, *UNIT_SIZE)

    def step() -> None:
        image = x.clone().requires_grad_(True)
        vgg(image)["relu5_1"].square().mean().backward()

    return step


class SegmentClock:
    """Times the unit inside a render too, every ``every`` seconds between two of its steps,
    so that each stretch of the render is divided by the units timed at its two ends rather
    than by units timed minutes apart: this machine's speed changes within one picture.
    The units' own time is taken off the render's."""

    def __init__(self, every: float, repeats: int) -> None:
        self.every, self.repeats = every, repeats
        self.marks: list[tuple[float, float, float]] = []  # (started, ended, unit seconds)
        self.called = 0.0

    def start(self) -> None:
        self.marks.clear()
        self.called = time.perf_counter()

    def __call__(self, event: Any) -> None:
        last = self.marks[-1][1] if self.marks else self.called
        if event.stage == "step" and time.perf_counter() - last >= self.every:
            started = time.perf_counter()
            step = _unit_step()  # warm already: timed as it is, next to the render's steps
            units = []
            for _ in range(self.repeats):
                begun = time.perf_counter()
                step()
                units.append(time.perf_counter() - begun)
            self.marks.append((started, time.perf_counter(), statistics.median(units)))

    def cost(self, render_seconds: float, before: float, after: float
             ) -> tuple[float, list[float], list[float]]:
        """(VGG steps, the stretches' seconds, the units at their ends) of a render that took
        ``render_seconds`` with the units inside it, between units ``before`` and ``after``."""
        inside = sum(end - start for start, end, _ in self.marks)
        render = render_seconds - inside
        stretches = []
        previous = self.called
        for start, end, _ in self.marks:
            stretches.append(max(0.0, start - previous))
            previous = end
        stretches.append(max(0.0, render - sum(stretches)))  # the last, and the start-up
        units = [before, *(u for _, _, u in self.marks), after]
        steps = sum(seconds / ((units[i] + units[i + 1]) / 2)
                    for i, seconds in enumerate(stretches))
        return steps, stretches, units


#: The ``layout`` values a preset may set (see the module's docstring).
LAYOUTS = ("nchw", "channels_last")
#: The runtime policy's own AMX test, kept while a preset overrides it.
_MACHINE: dict[str, Any] = {}


def without_layout(options: dict[str, Any]) -> dict[str, Any]:
    """A preset's options less the benchmark's own ``layout`` key: the optimiser's options."""
    return {k: v for k, v in options.items() if k != "layout"}


def use_layout(options: dict[str, Any]) -> None:
    """Make the runtime policy pick the preset's ``layout`` for the optimiser with bf16 on a
    CPU (its one input there is whether the CPU has AMX), or restore the machine's own."""
    from impasto.runtime import policy

    machine = _MACHINE.setdefault("cpu_has_amx", policy.cpu_has_amx)
    layout = options.get("layout")
    policy.cpu_has_amx = (machine if layout is None  # type: ignore[assignment]
                          else (lambda: layout == "channels_last"))


def parse_preset(text: str) -> tuple[str, dict[str, Any]]:
    """``NAME[:option=value,...]`` -> (name, options); values typed as the options' fields."""
    from impasto.config import TransferConfig
    from impasto.errors import InvalidOption

    name, _, spec = text.partition(":")
    options: dict[str, Any] = {}
    defaults = TransferConfig()
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if key == "layout":
            if value not in LAYOUTS:
                sys.exit(f"error: --preset {text!r}: layout is one of {', '.join(LAYOUTS)}")
            options[key] = value
            continue
        if not hasattr(defaults, key):
            sys.exit(f"error: --preset {text!r}: the optimiser has no option {key!r}")
        current = getattr(defaults, key)
        try:
            if isinstance(current, bool):
                options[key] = value.lower() in ("1", "true", "yes")
            elif isinstance(current, int):
                options[key] = int(value)
            elif isinstance(current, float):
                options[key] = float(value)
            elif current is None:  # an optional number (iterations, the weights) or a name
                try:
                    options[key] = int(value)
                except ValueError:
                    options[key] = float(value) if value.replace(".", "", 1).isdigit() else value
            else:
                options[key] = value
        except ValueError:
            sys.exit(f"error: --preset {text!r}: {value!r} is not a value of {key}")
    try:
        TransferConfig(**without_layout(options))  # checked before any work
    except InvalidOption as exc:
        sys.exit(f"error: --preset {text!r}: {exc}")
    return name or "default", options


def write_sheet(out: Path, chosen: list[tuple[Path, Path]], names: list[str],
                dest: Path) -> Path:
    """A contact sheet, one row a pair: the photo, the painting and each preset's picture (from
    ``--out``), labelled."""
    from PIL import Image

    from impasto.image.sheet import contact_sheet

    cells, labels = [], []
    for content, style in chosen:
        cells += [Image.open(content).convert("RGB"), Image.open(style).convert("RGB")]
        labels += [content.stem, style.stem]
        for name in names:
            cells.append(Image.open(out / f"{pair_name(content, style)}_{name}.png"))
            labels.append(name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(cells, labels, columns=2 + len(names), cell_height=220).save(dest,
                                                                              quality=88)
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="the shared data folder")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--preset", action="append", default=None,
                        help="NAME[:option=value,...]; repeatable (default: default)")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--unit-repeats", type=int, default=5)
    parser.add_argument("--unit-inside", type=int, default=1,
                        help="passes of the unit timed each time inside a render (median)")
    parser.add_argument("--unit-every", type=float, default=2.0,
                        help="seconds between units timed inside a render (0: none, each "
                             "render divided by the units just before and after it)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's own)")
    parser.add_argument("--out", default=None, help="folder for the pictures (optional)")
    parser.add_argument("--json", default=None)
    parser.add_argument("--reference", default=None, metavar="JSON",
                        help="take the first preset's rows (the ratios' reference) from this "
                             "earlier run of the same pairs, seed and options instead of "
                             "rendering it again (its pictures do not depend on the clock)")
    parser.add_argument("--sheet", default=None,
                        help="a contact sheet of the pictures (needs --out), e.g. "
                             "docs/images/progressive_contact_sheet.jpg")
    add_split_argument(parser)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import impasto

    root = data_dir(args.data)
    chosen = split_pairs(root, args.split, args.pairs)
    presets = [parse_preset(p) for p in (args.preset or ["default"])]
    earlier = (reference_rows(args, presets[0], [pair_name(c, s) for c, s in chosen])
               if args.reference else [])
    if args.reference and args.sheet:
        sys.exit("error: --sheet draws every preset's pictures: leave out --reference")
    if args.sheet and not args.out:
        sys.exit("error: --sheet needs --out (the folder the pictures are kept in)")
    out = Path(args.out) if args.out else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    pipeline = impasto.Pipeline("cpu")
    # Warm-up: every preset once on a small picture, so that loading VGG-19 and the decoders
    # is not counted in the first pair's time.
    for _, options in presets:
        use_layout(options)
        pipeline.render(impasto.Request(chosen[0][0], chosen[0][1], options={
            **without_layout(options), "size": 64, "iterations": 1,
            "precision": args.precision}))
    # The unit is timed again between renders and inside them (SegmentClock): this machine's
    # speed changes by up to 2x within a run, in spells of seconds.
    units = [vgg_step_seconds(args.unit_repeats)]
    clock = SegmentClock(args.unit_every, args.unit_inside)
    rows: list[dict[str, Any]] = []
    for content, style in chosen:
        for name, options in presets:
            if earlier and name == presets[0][0]:
                rows.extend(r for r in earlier if r["pair"] == pair_name(content, style))
                continue
            opts = {"size": args.size, "seed": args.seed, "precision": args.precision,
                    **without_layout(options)}
            use_layout(options)
            clock.start()
            result = pipeline.render(impasto.Request(content, style, options=opts),
                                     callback=clock if args.unit_every > 0 else None)
            scores = impasto.score(content, style, result.image)
            units.append(vgg_step_seconds(args.unit_repeats))
            unit_here = statistics.mean(units[-2:])
            cost, stretches, inside = clock.cost(result.timings["render"], *units[-2:])
            rows.append({"pair": pair_name(content, style), "preset": name,
                         "options": options,
                         "render_seconds": sum(stretches),
                         "unit_seconds": unit_here, "vgg_steps": cost,
                         "stretch_seconds": stretches, "stretch_units": inside,
                         "precision": result.precision,
                         "channels_last": result.runtime.channels_last,
                         **scores.to_dict()})
            if out is not None:
                result.save(out / f"{pair_name(content, style)}_{name}.png")
            print(f"{pair_name(content, style)} {name}: {rows[-1]['render_seconds']:.1f} s, "
                  f"{cost:.1f} VGG steps ({len(stretches)} stretches), "
                  f"style {scores.style_distance:.3f}, content {scores.content_distance:.3f}",
                  flush=True)
    unit = statistics.median(units)
    summary = []
    for name, options in presets:
        mine = [r for r in rows if r["preset"] == name]
        summary.append({
            "preset": name, "options": options,
            "vgg_steps": statistics.mean(r["vgg_steps"] for r in mine),
            "style_distance": statistics.mean(r["style_distance"] for r in mine),
            "content_distance": statistics.mean(r["content_distance"] for r in mine),
            "ssim": statistics.mean(r["ssim"] for r in mine),
        })
    base = summary[0]
    for s in summary:
        s["style_vs_first"] = s["style_distance"] / base["style_distance"]
        s["content_vs_first"] = s["content_distance"] / base["content_distance"]
    print(f"unit: one fp32 VGG-19 step at 512 x 341 = {unit:.3f} s (median; from "
          f"{min(units):.3f} to {max(units):.3f} over the run)")
    print(table(["preset", "VGG steps", "style", "content", "SSIM", "style/first",
                 "content/first"],
                [[s["preset"], f"{s['vgg_steps']:.1f}", f"{s['style_distance']:.4f}",
                  f"{s['content_distance']:.4f}", f"{s['ssim']:.3f}",
                  f"{s['style_vs_first']:.3f}", f"{s['content_vs_first']:.3f}"]
                 for s in summary]))
    if args.sheet and out is not None:
        print(f"wrote {write_sheet(out, chosen, [n for n, _ in presets], Path(args.sheet))}")
    write_json(args.json, {
        **run_header(Path(__file__).stem), "split": args.split, "precision": args.precision,
        "size": args.size, "unit_seconds": unit, "unit_seconds_all": units,
        "reference": args.reference and {
            "file": args.reference, "preset": presets[0][0],
            "commit": _last_commit(args.reference)},
        "summary": summary, "rows": rows,
    })


def reference_rows(args: argparse.Namespace, first: tuple[str, dict[str, Any]],
                   pairs: list[str]) -> list[dict[str, Any]]:
    """The first preset's rows from ``--reference``: a run of the same split, precision,
    size and seed, with a preset of that name whose options all hold in this one (this one
    may add options made since, at their old behaviour: ``multiscale=0``), on every pair."""
    try:
        earlier = json.loads(Path(args.reference).read_text())
        earlier["rows"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        sys.exit(f"error: --reference {args.reference}: not a vgg_steps JSON ({exc})")
    words = str(earlier.get("command", "")).split()
    seed = int(words[words.index("--seed") + 1]) if "--seed" in words else 0
    rows = [r for r in earlier["rows"] if r["preset"] == first[0]]
    same = (earlier.get("split") == args.split and earlier.get("precision") == args.precision
            and earlier.get("size") == args.size and seed == args.seed)
    if not same or not rows or any(first[1].get(k, object()) != v
                                   for r in rows for k, v in r["options"].items()):
        sys.exit(f"error: {args.reference} is not a run of {first[0]} with these options, "
                 "split, precision, size and seed")
    if missing := sorted(set(pairs) - {r["pair"] for r in rows}):
        sys.exit(f"error: {args.reference} has no {first[0]} picture of {', '.join(missing)}")
    return rows


def _last_commit(path: str) -> str | None:
    """The commit that last changed ``path`` (None outside a git checkout)."""
    try:
        done = subprocess.run(["git", "log", "-1", "--format=%H", "--", path],
                              capture_output=True, text=True, check=False)
    except OSError:
        return None
    return done.stdout.strip() or None


if __name__ == "__main__":
    main()
