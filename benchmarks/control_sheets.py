"""Pictures for the control features: loss families, face protection, region masks, seams.

Writes into ``docs/images/``:

* ``loss_families.jpg``: one pair with ``--style-loss gram | meancov | histogram`` and
  ``gram + --detail``, scored with ``impasto score``;
* ``protect_faces.jpg``: a portrait without and with ``--protect-faces`` (weights 5 and 30);
* ``region_masks.jpg``: two styles, one per half of the picture (guided Gram matrices);
* ``tileable_2x2.jpg``: a ``--tileable`` texture repeated 2 x 2, with its seam measure.

With ``--json PATH`` the figures (each loss family's seconds and scores, the face masks found,
the texture's seam ratios) and the machine's details are written there.

    python benchmarks/control_sheets.py [--size 384] [--data ../shared/data] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

import impasto
from _common import run_header, write_json
from impasto.image.sheet import contact_sheet


def seam_ratio(img: np.ndarray) -> tuple[float, float]:
    """Across-the-wrap difference over the inside neighbour difference, per axis (y, x)."""
    a = img.astype(np.float64)
    out = []
    for axis in (0, 1):
        inside = np.abs(np.diff(a, axis=axis)).mean()
        wrap = np.abs(np.take(a, 0, axis=axis) - np.take(a, -1, axis=axis)).mean()
        out.append(float(wrap / inside))
    return out[0], out[1]


def main() -> int:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=repo.parent / "shared" / "data")
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--out", type=Path, default=repo / "docs" / "images")
    parser.add_argument("--json", metavar="PATH", help="write all figures to this JSON file")
    args = parser.parse_args()
    report: dict[str, Any] = {"loss_families": [], "protect_faces": []}
    if not (args.data / "content").is_dir():
        print(f"control_sheets.py: test data not found under {args.data}", file=sys.stderr)
        return 2
    content_dir, style_dir = args.data / "content", args.data / "styles"
    st = impasto.Stylizer("cpu")
    args.out.mkdir(parents=True, exist_ok=True)

    # Loss families on one pair.
    content, style = content_dir / "kodim23_parrots.jpg", style_dir / "starry_night.jpg"
    cells, labels = [Image.open(content), Image.open(style)], ["content", "style"]
    print("loss family       seconds  style d  content d   ssim  colour d")
    for label, opts in [("gram", {}), ("meancov", {"style_loss": "meancov"}),
                        ("histogram", {"style_loss": "histogram"}),
                        ("gram + detail 20", {"detail": 20.0})]:
        t = time.perf_counter()
        result = st.stylize(content, style, size=args.size, seed=0, **opts)
        seconds = time.perf_counter() - t
        s = impasto.score(content, style, result.image)
        report["loss_families"].append({"label": label, "options": opts, "seconds": seconds,
                                        **s.to_dict()})
        print(f"{label:16} {seconds:8.1f} {s.style_distance:8.4f} "
              f"{s.content_distance:10.4f} {s.ssim:6.3f} {s.color_distance:9.4f}", flush=True)
        cells.append(result.image)
        labels.append(label)
    contact_sheet(cells, labels, columns=3, cell_height=220).save(
        args.out / "loss_families.jpg", quality=88)

    # Face protection on a portrait.
    content, style = content_dir / "kodim18_woman_portrait.jpg", style_dir / "the_scream.jpg"
    cells, labels = [Image.open(content)], ["content"]
    for weight in (None, 5.0, 30.0):
        result = st.stylize(content, style, size=args.size, seed=0, protect_faces=weight)
        record = json.loads(result.metadata["impasto"])
        print("protect-faces", weight, record.get("masks"), flush=True)
        report["protect_faces"].append({"weight": weight, "masks": record.get("masks")})
        cells.append(result.image)
        labels.append("default" if weight is None else f"--protect-faces={weight:g}")
    contact_sheet(cells, labels, cell_height=300).save(args.out / "protect_faces.jpg",
                                                       quality=88)

    # Two styles, one per half (guided Gram matrices).
    content = content_dir / "kodim21_lighthouse_coast.jpg"
    left_style = style_dir / "great_wave_off_kanagawa.jpg"
    right_style = style_dir / "composition_vii.jpg"
    w, h = Image.open(content).size
    left = np.zeros((h, w), np.uint8)
    left[:, : w // 2] = 255
    result = st.stylize(content, [left_style, right_style], size=args.size, seed=0,
                        masks=[(left, 1), (255 - left, 2)])
    contact_sheet([Image.open(content), Image.open(left_style), Image.open(right_style),
                   result.image], ["content", "style 1 (left)", "style 2 (right)", "masks"],
                  columns=4, cell_height=200).save(args.out / "region_masks.jpg", quality=88)

    # A tileable texture repeated 2 x 2.
    tex = st.texture(style_dir / "water_lilies_1919.jpg", size=256, seed=0, wrap="both")
    arr = np.asarray(tex.image)
    ry, rx = seam_ratio(arr)
    print(f"tileable 256 px: seam ratio y {ry:.3f}, x {rx:.3f} (1.0 = like any inside edge)")
    Image.fromarray(np.tile(arr, (2, 2, 1))).save(args.out / "tileable_2x2.jpg", quality=88)
    report["tileable"] = {"style": "water_lilies_1919.jpg", "size": 256, "wrap": "both",
                          "seam_ratio_y": ry, "seam_ratio_x": rx}
    write_json(args.json, {
        **run_header("control_sheets"),
        "settings": {"size": args.size, "content": "kodim23_parrots.jpg",
                     "style": "starry_night.jpg"},
        **report,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
