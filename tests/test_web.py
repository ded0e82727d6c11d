"""The web page of ``impasto serve`` in a real browser: Playwright driving Debian's Chromium
(``/usr/bin/chromium``, installed by ``.ci/run``; nothing downloads a browser) against a real
service (uvicorn and a worker process). Open the page, drop a photo, pick a style, paint it,
watch the picture form, download it, reload and find it in the gallery; brush a region for a
second style; enter the API key of a service that needs one; paint a video and play it."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


@contextlib.contextmanager
def serving(tmp_path: Path, *args: str) -> Iterator[str]:
    """A real service (uvicorn and one worker process) on a free port."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "impasto", "serve", "--port", str(port),
                               "--data-dir", str(tmp_path / "serve"), "--workers", "1",
                               "--device", "cpu", *args])
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base)
        yield base
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[str]:
    with serving(tmp_path) as base:
        yield base


@contextlib.contextmanager
def browser_page(width: int = 1200, height: int = 900) -> Iterator[Any]:
    """A page in Debian's Chromium; the test fails on any uncaught error in the page."""
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(accept_downloads=True,
                                      viewport={"width": width, "height": height})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page
        assert not errors, errors
        browser.close()


def drop_photo(page: Any, photo: Path) -> None:
    """Drop the photo on the drop zone, as a user drags a file from their desktop."""
    data = page.evaluate_handle(
        """async (bytes) => {
            const dt = new DataTransfer();
            dt.items.add(new File([new Uint8Array(bytes)], "photo.png", {type: "image/png"}));
            return dt;
        }""", list(photo.read_bytes()))
    page.dispatch_event("#drop", "drop", {"dataTransfer": data})
    assert page.inner_text("#drop-text") == "photo.png"
    page.wait_for_function("document.getElementById('brush').width > 0")


def brush_over(page: Any, start: tuple[float, float], end: tuple[float, float]) -> None:
    """One stroke over the photo, from and to fractions of its width and height."""
    box = page.locator("#brush").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * start[0], box["y"] + box["height"] * start[1])
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * end[0], box["y"] + box["height"] * end[1],
                    steps=8)
    page.mouse.up()


@pytest.fixture
def photo(tmp_path: Path, content_png: Path) -> Path:
    """A small photo to drop on the page."""
    path = tmp_path / "photo.png"
    Image.open(content_png).resize((96, 72)).save(path)
    return path


def open_with_photo(page: Any, url: str, photo: Path) -> None:
    """The page at ``url``, its styles loaded, ``photo`` dropped on it."""
    page.goto(url + "/")
    page.wait_for_selector(".style[data-id='starry-night']")
    drop_photo(page, photo)


def tiny(page: Any) -> None:
    """The smallest picture (64 px on its long side): quick on two cores."""
    page.eval_on_selector("#size", "el => { el.min = 64; el.value = 64; "
                                    "el.dispatchEvent(new Event('input')); }")



def download(page: Any, path: Path) -> Path:
    """The result the page's download link gives, saved at ``path``."""
    with page.expect_download() as started:
        page.click("#download")
    started.value.save_as(path)
    return path


def test_the_page_end_to_end(service: str, tmp_path: Path, photo: Path) -> None:
    with browser_page() as page:
        open_with_photo(page, service, photo)
        page.click(".style[data-id='the-scream']")
        assert "Edvard Munch" in page.inner_text("#style-terms")
        assert "public domain" in page.inner_text("#style-terms")
        # Brush a region of the photo to keep.
        page.check("#brushing")
        brush_over(page, (0.3, 0.4), (0.6, 0.5))
        page.check("input[name=method][value=optimize]")
        tiny(page)
        page.click("#run")
        # The instant preview, then the optimiser's pictures as they form.
        page.wait_for_function("document.getElementById('after').src.includes('/result')",
                               timeout=120_000)
        page.wait_for_function("document.getElementById('after').src.includes('/previews/')",
                               timeout=300_000)
        page.wait_for_selector("#save:not([hidden])", timeout=600_000)
        assert page.inner_text("#progress-text") == "done"
        saved = download(page, tmp_path / "download.png")
        assert Image.open(saved).size == (64, 48)
        from impasto.provenance.inspect import inspect_file

        record = inspect_file(saved).record
        assert record is not None and record["masks"][0]["protect"] == 10.0  # the brushed part
        page.select_option("#format", "tif")
        saved = download(page, tmp_path / "download.tif")
        with Image.open(saved) as tif:
            assert tif.format == "TIFF" and tif.size == (64, 48)
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        page.reload()
        page.wait_for_selector("#gallery li img")
        assert page.locator("#gallery li").count() == 2  # the instant preview and the picture
        # The preview was the painting's own network (the-scream has one).
        assert "network: the-scream" in page.inner_text("#gallery")


def test_two_styles_in_two_regions_on_the_page(service: str, tmp_path: Path,
                                               photo: Path) -> None:
    with browser_page() as page:
        open_with_photo(page, service, photo)
        page.click(".style[data-id='starry-night']")
        page.select_option("#region-style", "the-scream")
        assert "Edvard Munch" in page.inner_text("#region-terms")
        assert page.is_checked("#brushing-region")  # its brush, ready to use
        tiny(page)
        page.click("#run")  # nothing brushed yet: the page says what to do
        assert "Brush where the second style goes" in page.inner_text("#message")
        brush_over(page, (0.1, 0.2), (0.4, 0.8))
        page.click("#run")
        page.wait_for_selector("#save:not([hidden])", timeout=300_000)
        assert page.inner_text("#message") == ""
        saved = download(page, tmp_path / "two.png")
        from impasto.provenance.inspect import inspect_file

        record = inspect_file(saved).record
        assert record is not None
        assert record["masks"] == [{"name": "region.png", "style": 2},
                                   {"name": "region-rest.png", "style": 1}]
        assert [s["builtin"]["name"] for s in record["styles"]] == ["starry-night",
                                                                    "the-scream"]
        page.wait_for_selector("#gallery li img")
        assert "the-scream in a brushed region" in page.inner_text("#gallery")


def test_a_painting_with_its_own_network_on_the_page(service: str, tmp_path: Path,
                                                     photo: Path) -> None:
    """A painting with a trained network is marked and can be painted by it; with one that
    has none the choice is not offered (and goes back to Instant)."""
    with browser_page() as page:
        open_with_photo(page, service, photo)
        assert page.locator(".style[data-id='starry-night'] .trained").count() == 1
        assert page.locator(".style[data-id='in-bed'] .trained").count() == 0
        page.click(".style[data-id='starry-night']")
        assert page.is_disabled("#style-scale")  # the stroke scale is the optimiser's alone
        page.check("input[name=method][value=optimize]")
        assert page.is_enabled("#style-scale")
        page.check("input[name=method][value=network]")
        assert page.is_disabled("#region-style")  # a network paints its own style alone
        assert page.is_disabled("#style-scale")
        page.click(".style[data-id='in-bed']")
        assert page.is_disabled("input[name=method][value=network]")
        assert page.is_checked("input[name=method][value=adain]")
        assert "marked" in page.inner_text("#network-help")
        page.click(".style[data-id='starry-night']")
        page.check("input[name=method][value=network]")
        tiny(page)
        page.click("#run")
        page.wait_for_selector("#save:not([hidden])", timeout=300_000)
        saved = download(page, tmp_path / "trained.png")
        from impasto.provenance.inspect import inspect_file

        record = inspect_file(saved).record
        assert record is not None and record["method"] == "network"
        assert record["model"]["name"] == "fast-starry-night"


def test_the_page_asks_for_the_api_key(tmp_path: Path, photo: Path) -> None:
    with serving(tmp_path, "--api-key", "letmein") as base, browser_page(390, 844) as page:
        page.goto(base + "/")  # a phone-width screen
        page.wait_for_selector("#key-form:not([hidden])")
        assert "needs an API key" in page.inner_text("#key-message")
        assert page.evaluate("document.activeElement.id") == "api-key"
        page.fill("#api-key", "wrong")
        page.press("#api-key", "Enter")
        page.wait_for_function(
            "document.getElementById('key-message').textContent.includes('not accepted')")
        assert page.is_visible("#key-form")
        page.fill("#api-key", "letmein")
        page.click("#key-form button[type=submit]")
        page.wait_for_selector(".style[data-id='starry-night']")
        assert page.is_hidden("#key-form") and page.is_visible("#key-change")
        assert page.evaluate("localStorage.getItem('impasto.apiKey')") == "letmein"
        # Style pictures, the events and the result are fetched by the browser itself, with
        # the key as ?key=.
        page.wait_for_function("[...document.querySelectorAll('.style img')]"
                               ".some((img) => img.complete && img.naturalWidth > 0)")
        drop_photo(page, photo)
        tiny(page)
        page.click("#run")
        page.wait_for_selector("#save:not([hidden])", timeout=300_000)
        assert page.inner_text("#progress-text") == "done"
        page.wait_for_function("document.getElementById('after').complete && "
                               "document.getElementById('after').naturalWidth > 0")
        saved = download(page, tmp_path / "download.png")
        assert Image.open(saved).size == (64, 48)
        page.reload()  # the key is kept: no prompt, and the gallery has the picture
        page.wait_for_selector("#gallery li img")
        assert page.is_hidden("#key-form")


def test_a_video_on_the_page(service: str, tmp_path: Path) -> None:
    """A tiny clip (made with PyAV) dropped, painted frame by frame, played in the page."""
    pytest.importorskip("av")
    from tests.conftest import tiny_clip

    with browser_page(390, 844) as page:  # a phone-width screen
        page.goto(service + "/")
        page.wait_for_selector(".style[data-id='starry-night']")
        data = page.evaluate_handle(
            """async (bytes) => {
                const dt = new DataTransfer();
                dt.items.add(new File([new Uint8Array(bytes)], "clip.mp4", {type: "video/mp4"}));
                return dt;
            }""", list(tiny_clip()))
        page.dispatch_event("#drop", "drop", {"dataTransfer": data})
        assert page.inner_text("#drop-text") == "clip.mp4"
        assert page.is_visible("#clip-preview") and page.is_hidden("#brush-tools")
        assert page.is_disabled("#region-style")  # a video is painted whole
        tiny(page)
        page.click("#run")
        page.wait_for_selector("#result-video:not([hidden])", timeout=120_000)
        assert page.inner_text("#progress-text") == "done"
        assert page.is_hidden("#compare") and page.is_hidden("#format-choice")
        assert page.get_attribute("#download", "download").endswith(".mp4")
        playing = page.evaluate("""async () => {
            const video = document.getElementById("result-video");
            video.muted = true;
            await video.play();
            await new Promise((done) => setTimeout(done, 300));
            return {paused: video.paused, time: video.currentTime, width: video.videoWidth};
        }""")
        assert not playing["paused"] and playing["time"] > 0 and playing["width"] == 64
        page.reload()
        page.wait_for_selector("#gallery li img")
        assert "video" in page.inner_text("#gallery .badge")
        page.wait_for_function("document.querySelector('#gallery li img').naturalWidth > 0")
