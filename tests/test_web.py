"""The web page of ``impasto serve`` in a real browser: Playwright driving Debian's Chromium
(``/usr/bin/chromium``, installed by ``.ci/run``; nothing downloads a browser) against a real
service (uvicorn and a worker process). Open the page, drop a photo, pick a style, paint it,
watch the picture form, download it, reload and find it in the gallery."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("fastapi")
playwright = pytest.importorskip("playwright.sync_api")
from impasto.serve.service import free_port, wait_until_up  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                reason="Debian's chromium is not installed (.ci/run installs it)")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "impasto", "serve", "--port", str(port),
                               "--data-dir", str(tmp_path / "serve"), "--workers", "1",
                               "--device", "cpu"])
    base = f"http://127.0.0.1:{port}"
    wait_until_up(base)
    try:
        yield base
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def test_the_page_end_to_end(service: str, tmp_path: Path, content_png: Path) -> None:
    photo = tmp_path / "photo.png"
    Image.open(content_png).resize((96, 72)).save(photo)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(accept_downloads=True,
                                      viewport={"width": 1200, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(service + "/")
        page.wait_for_selector(".style[data-id='starry-night']")
        # Drop the photo on the drop zone, as a user drags a file from their desktop.
        data = page.evaluate_handle(
            """async (bytes) => {
                const dt = new DataTransfer();
                dt.items.add(new File([new Uint8Array(bytes)], "photo.png", {type: "image/png"}));
                return dt;
            }""", list(photo.read_bytes()))
        page.dispatch_event("#drop", "drop", {"dataTransfer": data})
        assert page.inner_text("#drop-text") == "photo.png"
        page.click(".style[data-id='the-scream']")
        assert "Edvard Munch" in page.inner_text("#style-terms")
        assert "public domain" in page.inner_text("#style-terms")
        # Brush a region of the photo to keep.
        page.check("#brushing")
        box = page.locator("#brush").bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.4)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5, steps=8)
        page.mouse.up()
        page.check("input[name=method][value=optimize]")
        page.eval_on_selector("#size", "el => { el.min = 64; el.value = 64; "
                                        "el.dispatchEvent(new Event('input')); }")
        page.click("#run")
        # The instant preview, then the optimiser's pictures as they form.
        page.wait_for_function("document.getElementById('after').src.includes('/result')",
                               timeout=120_000)
        page.wait_for_function("document.getElementById('after').src.includes('/previews/')",
                               timeout=300_000)
        page.wait_for_selector("#save:not([hidden])", timeout=600_000)
        assert page.inner_text("#progress-text") == "done"
        with page.expect_download() as download:
            page.click("#download")
        saved = tmp_path / "download.png"
        download.value.save_as(saved)
        assert Image.open(saved).size == (64, 48)
        from impasto.provenance.inspect import inspect_file

        record = inspect_file(saved).record
        assert record is not None and record["masks"][0]["protect"] == 10.0  # the brushed part
        page.select_option("#format", "tif")
        with page.expect_download() as download:
            page.click("#download")
        saved = tmp_path / "download.tif"
        download.value.save_as(saved)
        with Image.open(saved) as tif:
            assert tif.format == "TIFF" and tif.size == (64, 48)
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        page.reload()
        page.wait_for_selector("#gallery li img")
        assert page.locator("#gallery li").count() == 2  # the instant preview and the picture
        assert not errors, errors
        browser.close()
