"""End to end: ``python -m fracture.serve`` on a free loopback port, its page in headless
Chromium (Debian's, driven by Playwright; no browser download): the model panel, several files
in one drop (PNG, DICOM, a bad one), the DICOM's server-rendered preview, the CAM controls, and
screenshots checked to show something."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fracture.synth import render_radiograph
from tests import formats
from tests.test_serve import tiny_run

CHROMIUM = Path("/usr/bin/chromium")
STARTUP_S = 120  # imports of torch and Lightning, then the model, on a loaded 2-core runner
TIMEOUT_MS = 60_000

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs /usr/bin/chromium: install Debian chromium: "
        "apt-get install chromium chromium-driver",
    ),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"fracture-serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url + "api/v1/health", timeout=2) as response:
                if json.load(response)["model_loaded"]:
                    return
        except OSError:
            time.sleep(0.25)
    pytest.fail(f"fracture-serve did not answer within {STARTUP_S} s:\n{log.read_text()}")


@pytest.fixture
def server(tiny_root, tmp_path_factory, tmp_path):
    """The real server in a subprocess, started in an empty folder; always stopped."""
    run_dir = tiny_run(tiny_root, tmp_path_factory)
    cwd, log = tmp_path / "cwd", tmp_path / "server.log"
    cwd.mkdir()
    port = free_port()
    args = [f"ckpt={run_dir}", f"port={port}", "device=cpu", "log_level=warning"]
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "fracture.serve", *args], cwd=cwd, stdout=out, stderr=out
        )
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until_healthy(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode in (0, -15), log.read_text()
    assert list(cwd.iterdir()) == []  # no Hydra run directory, no uploads left behind


def radiograph(directory: Path) -> Path:
    pixels = render_radiograph(np.random.default_rng(11), 256, fractured=True, subtle_fraction=0)
    return formats.write_png8(directory, pixels, "synthetic_forearm.png")


def api_probability(url: str, path: Path) -> float:
    """The same image through the JSON API, to compare with what the page shows."""
    boundary = "e2e-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{path.name}"'
            f"\r\nContent-Type: image/png\r\n\r\n"
        ).encode()
        + path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(url + "api/v1/predict", data=body, method="POST")
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["predictions"][0]["probability"]


def assert_not_blank(path: Path, min_std: float = 8.0) -> None:
    """A screenshot that shows something: its gray levels vary (a blank or failed render is
    one flat colour)."""
    gray = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
    assert gray.std() > min_std, f"{path.name} looks blank (gray std {gray.std():.1f})"


def keep_screenshot(path: Path) -> None:
    """Copy a screenshot to $FRACTURE_SCREENSHOT_DIR as serve_<name> (README's picture)."""
    target = os.environ.get("FRACTURE_SCREENSHOT_DIR")
    if target:
        shutil.copy(path, Path(target) / f"serve_{path.name}")  # docs/serve_page.png


def test_the_page_shows_model_results_previews_and_maps(server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    image = radiograph(tmp_path)
    pixels = np.asarray(Image.open(image), dtype=np.uint16) * 16  # 12-bit, as scanners store
    dicom = formats.write_dicom(tmp_path, pixels, name="forearm.dcm")
    bad = formats.write_text_as_png(tmp_path)
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            missing = []
            page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
            page.goto(server)
            # The model panel: what the checkpoint stores.
            expect(page.locator("#model-info")).to_contain_text("resnet18", timeout=TIMEOUT_MS)
            expect(page.locator("#card-validation")).to_contain_text("sensitivity")
            expect(page.locator("#card-validation")).to_contain_text("specificity")
            expect(page.locator("#card-use")).to_contain_text("not a medical device")

            # Several files in one drop: a results list, one row each, the bad one named.
            page.set_input_files("#file-input", [image, dicom, bad])
            rows = page.locator("#results-body tr")
            expect(rows).to_have_count(3, timeout=TIMEOUT_MS)
            expect(page.locator("#error")).to_contain_text("notes.png: not an image")
            expect(rows.nth(2)).to_contain_text("not an image")
            probability = page.locator("#probability")
            expect(probability).to_have_text(re.compile(r"^[01]\.\d{3}$"))
            shown = float(probability.inner_text())
            expect(page.locator("#decision")).to_contain_text("threshold")
            _wait_for_image(page, "#overlay")
            # The 32 px test model's map is 1 x 1: the page says it cannot localise.
            expect(page.locator("#cam-warning")).to_contain_text("1\u00d71")  # 1 x 1
            expect(page.locator("#timing")).to_be_hidden()  # timings only on request
            page.fill("#cam-opacity", "80")
            assert page.locator("#overlay").evaluate("e => e.style.opacity") == "0.8"

            # The DICOM's preview, decoded by the server.
            rows.nth(1).click()
            expect(page.locator("#result-name")).to_have_text("forearm.dcm")
            _wait_for_image(page, "#preview")
            page.locator("#preview").screenshot(path=tmp_path / "dicom_preview.png")
            page.screenshot(path=tmp_path / "page.png", full_page=True)
        finally:
            browser.close()
    assert_not_blank(tmp_path / "dicom_preview.png")
    assert_not_blank(tmp_path / "page.png")
    keep_screenshot(tmp_path / "page.png")
    assert not missing, missing  # no 404, the favicon included
    with urllib.request.urlopen(server + "favicon.ico", timeout=10) as response:
        assert response.status == 200
    assert shown == pytest.approx(api_probability(server, image), abs=5e-4)
    assert Image.open(tmp_path / "page.png").size[0] == 1100


def _wait_for_image(page, selector: str) -> None:
    """Until the image has loaded (>= 256 px wide). Polled from here: the page's CSP forbids
    the eval that Playwright's wait_for_function needs for a predicate."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while page.locator(selector).evaluate("image => image.naturalWidth") < 256:
        assert time.monotonic() < deadline, f"{selector} did not load"
        page.wait_for_timeout(100)
