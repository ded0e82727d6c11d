"""What signed provenance (C2PA) costs: milliseconds added to writing a 512 px picture in
each format, and to a video per frame.

A 512 px picture (a content photo of ``--data`` in ``starry-night`` by AdaIN, made once) is
written ``--repeats`` times in each format with the plain record only
(``provenance=False`` writes neither; the plain record alone is what impasto wrote before) and
with the signed manifest (the local test authority's certificate, the signer made once per
process as the CLI does), the two alternating; medians and the difference (the goal: under
50 ms). The signer's one-off set-up per process (credentials checked, a probe signature) is
timed apart. For video, a stylised 640 x 360 clip is signed ``--repeats`` times after it was
written (what ``impasto video`` does once per file): milliseconds per file and per frame.

    python benchmarks/provenance.py --json docs/results/provenance.json
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import data_dir, run_header, table, write_json

FORMATS = ("png", "jpg", "webp", "tif")
CLIP = "big_buck_bunny_10s.mp4"


def _median_ms(samples: list[float]) -> float:
    return round(1000 * statistics.median(samples), 2)


def picture_rows(result: Any, signer: Any, work: Path, repeats: int) -> list[dict[str, Any]]:
    from impasto.image.save import save_image
    from impasto.provenance import METADATA_KEY

    rows = []
    for ext in FORMATS:
        plain, signed = [], []
        for i in range(repeats + 1):
            started = time.perf_counter()
            save_image(result.tensor, work / f"plain.{ext}",
                       metadata={METADATA_KEY: result.metadata[METADATA_KEY]})
            middle = time.perf_counter()
            result.save(work / f"signed.{ext}", provenance=signer)
            done = time.perf_counter()
            if i:  # the first round warms both paths up
                plain.append(middle - started)
                signed.append(done - middle)
        rows.append({"format": ext, "plain_ms": _median_ms(plain),
                     "signed_ms": _median_ms(signed),
                     "added_ms": round(_median_ms(signed) - _median_ms(plain), 2),
                     "plain_bytes": (work / f"plain.{ext}").stat().st_size,
                     "signed_bytes": (work / f"signed.{ext}").stat().st_size})
    return rows


def video_row(root: Path, signer: Any, work: Path, repeats: int) -> dict[str, Any]:
    from impasto.provenance.inspect import inspect_file
    from impasto.video.render import VideoJob, render_video

    styled = work / "styled.mp4"
    summary = render_video(VideoJob(root / "video" / CLIP, ["starry-night"], styled,
                                    method="adain", options={"encoder": "student-relu4_1"},
                                    size=640, duration=4.0, provenance=False))
    record = {"software": "impasto", "method": "adain", "video": {"frames": summary["frames"]}}
    times = []
    for i in range(repeats + 1):
        started = time.perf_counter()
        signer.sign_file(styled, work / "signed.mp4", record, "signed.mp4")
        if i:
            times.append(time.perf_counter() - started)
    state = inspect_file(work / "signed.mp4").state
    per_file = _median_ms(times)
    return {"clip": f"{CLIP}, first 4 s at 640 x 360", "frames": summary["frames"],
            "bytes": styled.stat().st_size, "sign_ms_per_file": per_file,
            "sign_ms_per_frame": round(per_file / summary["frames"], 3), "state": state}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    header = run_header("provenance")

    import os

    from impasto.pipeline import Pipeline, Request
    from impasto.provenance.credentials import local_credentials
    from impasto.provenance.signing import ManifestSigner

    root = data_dir(args.data)
    with tempfile.TemporaryDirectory(prefix="impasto-provenance-") as tmp:
        work = Path(tmp)
        os.environ["IMPASTO_CONFIG"] = str(work / "config")  # a fresh local authority
        started = time.perf_counter()
        credentials = local_credentials()
        made = time.perf_counter()
        signer = ManifestSigner(credentials)
        ready = time.perf_counter()
        photo = sorted((root / "content").glob("*.jpg"))[0]
        result = Pipeline("cpu").render(Request(photo, ["starry-night"], method="adain",
                                                options={"size": 512}))
        rows = picture_rows(result, signer, work, args.repeats)
        video = video_row(root, signer, work, max(3, args.repeats // 3))
    size = list(result.image.size)
    print(table(["format", "plain ms", "signed ms", "added ms", "bytes added"],
                [[r["format"], r["plain_ms"], r["signed_ms"], r["added_ms"],
                  r["signed_bytes"] - r["plain_bytes"]] for r in rows]))
    print(f"video: {video['sign_ms_per_file']} ms per file, {video['sign_ms_per_frame']} ms "
          f"per frame ({video['frames']} frames); state {video['state']}")
    write_json(args.json, {**header, "picture": {"content": photo.name, "size": size},
                           "goal_added_ms": 50.0,
                           "local_authority_made_ms": round(1000 * (made - started), 1),
                           "signer_setup_ms": round(1000 * (ready - made), 1),
                           "pictures": rows, "video": video})


if __name__ == "__main__":
    main()
