"""The screenshot of ``impasto serve``'s page in docs/serve.md: a real service, Debian's
Chromium driven by Playwright, a photo from the shared data painted in a built-in style.

    python scripts/serve_screenshot.py --photo ../shared/data/content/chelsea_cat.jpg \\
        --style great-wave --out docs/images/serve_page.png

``--photo`` may be a video (the page takes either): docs/images/serve_video.png is the shared
clip, ``--photo ../shared/data/video/big_buck_bunny_10s.mp4 --style the-scream --size 320``.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo", required=True)
    parser.add_argument("--style", default="starry-night")
    parser.add_argument("--method", default="adain")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--out", default="docs/images/serve_page.png")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from impasto.serve.service import free_port, wait_until_up

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen([sys.executable, "-m", "impasto", "serve", "--port",
                                   str(port), "--data-dir", tmp, "--workers", "1"])
        try:
            wait_until_up(base)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(base + "/")
                page.wait_for_selector(f".style[data-id='{args.style}']")
                page.set_input_files("#photo", args.photo)
                page.click(f".style[data-id='{args.style}']")
                page.check(f"input[name=method][value={args.method}]")
                page.eval_on_selector("#size", f"el => {{ el.value = {args.size}; "
                                               "el.dispatchEvent(new Event('input')); }")
                page.click("#run")
                page.wait_for_selector("#save:not([hidden])", timeout=600_000)
                page.eval_on_selector("#split", "el => { el.value = 35; "
                                                "el.dispatchEvent(new Event('input')); }")
                page.wait_for_timeout(500)
                Path(args.out).parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=args.out, full_page=True)
                browser.close()
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
