"""Screenshots of TensorBoard's HPARAMS table and scalars for a run or sweep directory.

    .venv/bin/python scripts/tensorboard_screenshots.py logs/multirun/<time> --out docs

Starts TensorBoard on a free loopback port, opens it in Debian's Chromium through Playwright
(``apt-get install -y chromium``; no ``playwright install``), saves
``tensorboard_hparams.png`` and ``tensorboard_scalars.png`` and stops TensorBoard again.
"""

import argparse
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
STARTUP_S = 120
PAGES = {"hparams": "#hparams", "scalars": "#scalars"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_tensorboard(logdir: Path, port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).close()
            return process
        except OSError:
            time.sleep(0.5)
    process.kill()
    sys.exit(f"tensorboard_screenshots: error: TensorBoard did not start on port {port}")


def screenshots(url: str, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as playwright:
        # --no-sandbox: Chromium's sandbox refuses to start as root (CI, containers).
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            for name, anchor in PAGES.items():
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.goto(url + anchor)
                page.get_by_text("test/auroc").first.wait_for(state="attached", timeout=90_000)
                if name == "scalars":  # the test group's single points open the page: fold it
                    page.get_by_text("test", exact=True).first.click(timeout=90_000)
                page.wait_for_timeout(3000)  # charts draw after their data arrives
                written.append(out / f"tensorboard_{name}.png")
                page.screenshot(path=written[-1])
        finally:
            browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logdir", type=Path, help="a run or multirun directory")
    parser.add_argument("--out", type=Path, default=Path("docs"), help="where the PNGs go")
    args = parser.parse_args()
    if not args.logdir.is_dir():
        sys.exit(f"tensorboard_screenshots: error: {args.logdir} is not a directory")
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = start_tensorboard(args.logdir, port)
    try:
        for path in screenshots(f"http://127.0.0.1:{port}/", args.out):
            print(f"wrote {path}")
    finally:
        process.terminate()
        process.wait(timeout=20)


if __name__ == "__main__":
    main()
