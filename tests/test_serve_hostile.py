"""fracture-serve under uvicorn against clients that try to hold it: trickled bodies, headers
that never end, a decode that never returns and then SIGTERM. Loopback only, bounded loads,
every socket and process closed by the test itself."""

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import closing

import numpy as np
import pytest
import uvicorn

from fracture.serve import cli
from tests import formats
from tests.test_serve import serve_config, tiny_run
from tests.test_serve_e2e import free_port, wait_until_healthy

DEADLINE_S = 1  # body and header deadlines of the server under test
ANSWERED_WITHIN_S = 20.0  # far above the deadlines, far below "never" on a loaded machine
STOPPED_WITHIN_S = 15.0  # uvicorn's 3 s grace, killing the decoder, interpreter exit


@pytest.fixture(scope="module")
def server(tiny_root, tmp_path_factory):
    """The real app under uvicorn in a thread: 1 thread + 1 queued = 2 uploads at once."""
    cfg = serve_config(
        f"ckpt={tiny_run(tiny_root, tmp_path_factory)}",
        f"port={free_port()}",
        "threads=1",
        "queue_size=1",
        f"body_timeout_s={DEADLINE_S}",
        f"header_timeout_s={DEADLINE_S}",
        "log_level=warning",
    )
    server = uvicorn.Server(cli.uvicorn_config(cli.build_app(cfg), cfg))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + ANSWERED_WITHIN_S
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{cfg.port}/", cfg.port
    server.should_exit = True
    thread.join(ANSWERED_WITHIN_S)


def get(url: str) -> tuple[int, dict, bytes]:
    return answer(urllib.request.Request(url))


def answer(request: urllib.request.Request) -> tuple[int, dict, bytes]:
    """Status, headers (lower-case names) and body, for errors too."""
    try:
        with urllib.request.urlopen(request, timeout=ANSWERED_WITHIN_S) as response:
            return response.status, _lower(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, _lower(error.headers), error.read()


def _lower(headers) -> dict:
    return {name.lower(): value for name, value in headers.items()}


def post_png(url: str, png: bytes) -> tuple[int, dict, bytes]:
    boundary = "b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="x"\r\n\r\n'
        ).encode()
        + png
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(url + "api/v1/predict", data=body, method="POST")
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    return answer(request)


class Trickler:
    """A POST that announces 100 kB and sends one byte every 0.1 s until answered."""

    def __init__(self, port: int):
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=ANSWERED_WITHIN_S)
        self.socket.sendall(
            b"POST /api/v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n\r\n--b\r\n"
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self) -> None:
        while not self._stop.wait(0.1):
            try:
                self.socket.sendall(b"x")
            except OSError:  # answered and closed
                return

    def answer(self) -> bytes:
        received = b""
        while b"\r\n\r\n" not in received or not received.rstrip().endswith(b"}"):
            chunk = self.socket.recv(4096)
            if not chunk:
                break
            received += chunk
        return received

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.socket.close()


@pytest.fixture
def png(tiny_root) -> bytes:
    return next((tiny_root / "test").rglob("*.png")).read_bytes()


def test_trickled_uploads_get_408_and_never_lock_out_the_page_or_health(server, png):
    url, port = server
    tricklers = [Trickler(port) for _ in range(2)]  # every upload slot
    try:
        time.sleep(0.3)  # their headers are in: both admitted
        assert get(url + "api/v1/health")[0] == 200
        assert get(url)[0] == 200
        status, headers, body = post_png(url, png)
        assert status == 503 and headers["retry-after"] == "1"
        assert headers["content-type"] == "application/json"
        assert json.loads(body)["detail"].startswith("server busy: 2 uploads")
        for trickler in tricklers:
            answer = trickler.answer()
            assert answer.startswith(b"HTTP/1.1 408"), answer
            assert b"request body too slow: not received in full within 1 s" in answer
    finally:
        for trickler in tricklers:
            trickler.close()
    status, _, body = post_png(url, png)  # the slots came back
    assert status == 200, body


def test_headers_that_never_end_are_cut_off(server):
    _, port = server
    with closing(socket.create_connection(("127.0.0.1", port), timeout=ANSWERED_WITHIN_S)) as s:
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line
        started = time.monotonic()
        assert s.recv(4096) == b""  # closed by the server, not by our timeout (an exception)
        assert time.monotonic() - started < ANSWERED_WITHIN_S


@pytest.mark.slow
def test_sigterm_stops_the_server_while_a_decode_hangs(tiny_root, tmp_path_factory, tmp_path):
    # pydicom loops for ever on this file once its pre-check is gone; the decode deadline is
    # set far away, so only killing the decoding process can end the request.
    hanging = formats.write_jp2_dicom_with_zero_box(tmp_path, np.zeros((32, 48), np.uint8))
    port, log = free_port(), tmp_path / "server.log"
    patched = (
        "import sys; import fracture.data.decode as d; "
        "d._check_encapsulated_frame = lambda path, ds: None; "
        "from fracture.serve.cli import main; sys.argv[0] = 'fracture-serve'; main()"
    )
    args = [
        f"ckpt={tiny_run(tiny_root, tmp_path_factory)}",
        f"port={port}",
        "device=cpu",
        "decode_timeout_s=600",
    ]
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", patched, *args], cwd=tmp_path, stdout=out, stderr=out
        )
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until_healthy(url, process, log)
        threading.Thread(target=post_png, args=(url, hanging.read_bytes()), daemon=True).start()
        time.sleep(2)  # the upload is read and its decode is stuck
        assert process.poll() is None
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=STOPPED_WITHIN_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode in (0, -15), log.read_text()
