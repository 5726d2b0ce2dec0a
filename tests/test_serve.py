"""fracture-serve's API: agrees with fracture-predict for every format, refuses bad input with
the right code and a one-line reason, and keeps concurrent requests apart."""

import asyncio
import base64
import io
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from hydra import compose, initialize_config_dir
from PIL import Image
from pydicom import uid

import fracture.data.decode as decode_module
from fracture.data.decode import decode
from fracture.errors import ConfigError, UnreadableImage
from fracture.inference.overlays import overlay_images
from fracture.inference.predict import predict_paths
from fracture.serve import cli, create_app
from fracture.serve.pool import InferencePool, QueueFull
from fracture.serve.settings import ServeSettings
from fracture.train import train
from fracture.trained.predictor import load_predictor
from tests import formats
from tests.conftest import CONF_DIR, tiny_config

PREDICT = "/api/v1/predict"


def tiny_run(tiny_root: Path, tmp_path_factory) -> Path:
    """One tiny trained run per test session, shared by the serve test modules."""
    run = tmp_path_factory.getbasetemp() / "serve-run"
    if not (run / "metrics.json").is_file():
        overrides = (
            "evaluation.bootstrap.resamples=0",
            "evaluation.threshold.policy=youden",
            "data.fit=crop",  # its shortest-side resize blows a thin strip up ("strip" below)
        )
        train(tiny_config(tiny_root, run, *overrides))
    return run


def serve_config(*overrides: str):
    """The real ``conf/serve.yaml`` with ``overrides``, as the console script composes it."""
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        return compose("serve", overrides=["ckpt=unused", "device=cpu", *overrides])


def settings(*overrides: str) -> ServeSettings:
    return ServeSettings.from_config(serve_config(*overrides))


@pytest.fixture(scope="module")
def run_dir(tiny_root, tmp_path_factory) -> Path:
    return tiny_run(tiny_root, tmp_path_factory)


@pytest.fixture(scope="module")
def predictor(run_dir):
    return load_predictor(run_dir)


@pytest.fixture(scope="module")
def client(predictor):
    with TestClient(create_app(predictor, settings("threads=2"))) as client:
        yield client


@pytest.fixture
def make_client(predictor):
    """Clients of apps with other settings; each is closed (its threads stopped) after the test."""
    with ExitStack() as stack:

        def make(*overrides: str) -> TestClient:
            app = create_app(predictor, settings(*overrides))
            return stack.enter_context(TestClient(app))

        yield make


@pytest.fixture(scope="module")
def radiographs(tiny_root) -> list[np.ndarray]:
    paths = sorted((tiny_root / "test").rglob("*.png")) + sorted((tiny_root / "val").rglob("*.png"))
    return [np.asarray(Image.open(p)) for p in paths[:8]]


def upload(*paths: Path) -> list[tuple]:
    return [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in paths]


def post(client: TestClient, *paths: Path, explain: bool = False):
    return client.post(PREDICT, files=upload(*paths), params={"explain": explain})


def assert_error(response, status: int, *fragments: str) -> None:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail
    for fragment in fragments:
        assert fragment in detail


WRITERS = {
    "png": lambda d, a: formats.write_png8(d, a, "x.png"),
    "png16": lambda d, a: formats.write_png16(d, a.astype(np.uint16) * 257, "x16.png"),
    "jpeg": lambda d, a: formats.write_exif_rotated_jpeg(d, a, orientation=1, name="x.jpg"),
    "dicom": lambda d, a: formats.write_dicom(d, a.astype(np.uint16) * 16, name="x.dcm"),
    "dicom-jpeg": lambda d, a: formats.write_dicom_jpeg_baseline(d, a, "xj.dcm"),
}


@pytest.mark.parametrize("kind", WRITERS)
def test_each_format_is_predicted_as_fracture_predict_does(
    client, predictor, radiographs, tmp_path, kind
):
    path = WRITERS[kind](tmp_path, radiographs[0])
    response = post(client, path)
    assert response.status_code == 200, response.text
    [got] = response.json()["predictions"]
    [expected] = predict_paths(predictor, [path], progress=False)
    assert expected.error is None
    assert got["probability"] == pytest.approx(expected.probability, abs=1e-6)
    assert got["members"] == pytest.approx(expected.members, abs=1e-6)
    assert got["label"] == expected.label(predictor.threshold)
    assert got["fractured"] == (got["probability"] >= predictor.threshold)
    assert got["threshold"] == predictor.threshold
    assert (got["filename"], got["model"]) == (path.name, "resnet18")
    assert got["checkpoint_sha256"] == predictor.digest
    assert got["timing"]["inference_ms"] > 0 and got["timing"]["explain_ms"] is None
    assert got["overlay"] is None and response.json()["total_ms"] > 0


def test_several_files_are_answered_in_upload_order(client, predictor, radiographs, tmp_path):
    paths = [formats.write_png8(tmp_path, a, f"{i}.png") for i, a in enumerate(radiographs[:4])]
    response = post(client, *reversed(paths))
    assert response.status_code == 200, response.text
    got = response.json()["predictions"]
    expected = predict_paths(predictor, list(reversed(paths)), progress=False)
    assert [g["filename"] for g in got] == ["3.png", "2.png", "1.png", "0.png"]
    for g, e in zip(got, expected, strict=True):
        assert g["probability"] == pytest.approx(e.probability, abs=1e-6)


def test_explain_returns_the_overlay_that_fracture_predict_draws(
    client, predictor, radiographs, tmp_path
):
    path = formats.write_png8(tmp_path, radiographs[1], "wrist.png")
    [got] = post(client, path, explain=True).json()["predictions"]
    prefix = "data:image/png;base64,"
    assert got["overlay"].startswith(prefix) and got["timing"]["explain_ms"] > 0
    served = Image.open(io.BytesIO(base64.b64decode(got["overlay"][len(prefix) :])))
    image = predictor.preprocessing.eval_transform()(decode(path).image)[None]
    [expected] = overlay_images(predictor, image, [got["probability"]], "gradcam")
    assert served.format == "PNG" and served.size == expected.size
    np.testing.assert_array_equal(np.asarray(served.convert("RGB")), np.asarray(expected))


def test_model_and_health_describe_the_loaded_checkpoint(client, predictor):
    model = client.get("/api/v1/model").json()
    assert model["checkpoint_sha256"] == predictor.digest
    assert (model["model"], model["backbones"], model["members"]) == ("resnet18", ["resnet18"], 1)
    assert model["preprocessing"] == predictor.preprocessing.to_dict()
    assert model["threshold"] == predictor.threshold != 0.5  # youden, not the default
    assert model["class_names"] == ["not_fractured", "fractured"]
    assert model["limits"] == {
        "max_upload_mb": 20,
        "max_files": 16,
        "max_pixels": 100_000_000,
        "decode_timeout_s": 30,
        "body_timeout_s": 60,
    }
    assert (model["explain_method"], model["device"]) == ("gradcam", "cpu")
    assert client.get("/api/v1/health").json() == {"status": "ok", "model_loaded": True}


def test_openapi_documents_responses_and_errors(client):
    schema = client.get("/openapi.json").json()
    assert {"/api/v1/predict", "/api/v1/model", "/api/v1/health"} <= set(schema["paths"])
    responses = schema["paths"]["/api/v1/predict"]["post"]["responses"]
    assert {"200", "400", "403", "408", "413", "415", "422", "503"} <= set(responses)
    assert "Prediction" in schema["components"]["schemas"]


def test_the_page_and_its_assets_are_served_with_relative_urls(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert 'src="static/app.js"' in page.text and 'href="static/style.css"' in page.text
    script = client.get("/static/app.js").text
    assert 'const API = "api/v1/"' in script
    assert "://" not in page.text + script  # nothing absolute: no CDN, and proxies may add a prefix
    assert client.get("/static/style.css").status_code == 200


# --- bad input -----------------------------------------------------------------------------


def test_a_body_over_the_cap_is_refused_by_its_content_length(make_client):
    client = make_client("max_upload_mb=0.01")  # 10,485 bytes
    response = client.post(PREDICT, files=[("files", ("big.png", b"\0" * 20_000))])
    assert_error(response, 413, "request body too large", "Content-Length", "max_upload_mb")


def test_a_body_over_the_cap_is_refused_while_it_streams(make_client):
    client = make_client("max_upload_mb=0.01")

    def chunks():  # no Content-Length: the bytes themselves are counted
        yield b"--b\r\nContent-Disposition: form-data; name=files; filename=a.png\r\n\r\n"
        for _ in range(30):
            yield b"\0" * 1000

    headers = {"content-type": "multipart/form-data; boundary=b"}
    response = client.post(PREDICT, content=chunks(), headers=headers)
    assert_error(response, 413, "request body too large", "bytes sent")


def test_too_many_files_are_refused(make_client, radiographs, tmp_path):
    client = make_client("max_files=2")
    path = formats.write_png8(tmp_path, radiographs[0])
    assert post(client, path, path).status_code == 200
    assert_error(post(client, path, path, path), 413, "too many files", "at most 2")


@pytest.mark.parametrize(
    ("write", "status", "reason"),
    [
        (lambda d, a: formats.write_text_as_png(d), 415, "not an image"),
        (
            lambda d, a: formats.write_dicom_encapsulated(d, a, uid.MPEG2MPML, "video.dcm"),
            415,
            "unsupported DICOM transfer syntax",
        ),
        (lambda d, a: formats.write_truncated_png(d, a), 422, "truncated image data"),
        (lambda d, a: formats.write_truncated_dicom(d, a), 422, "truncated image data"),
        (lambda d, a: formats.write_zero_byte(d), 422, "zero bytes"),
        (lambda d, a: formats.write_huge_png_header(d, 30000, 30000), 413, "too many pixels"),
        (lambda d, a: formats.write_png8(d, np.zeros((1, 400_000)), "s.png"), 413, "resizing"),
        (lambda d, a: formats.write_half_jpeg_with_end_marker(d, a), 422, "truncated image data"),
        (lambda d, a: formats.write_jpeg_claiming(d, a, 9000, 9000), 422, "truncated image data"),
        (lambda d, a: formats.write_pillow_format(d, "TGA", "x.tga"), 415, "unsupported format"),
        (
            lambda d, a: formats.write_jp2_dicom_with_zero_box(d, a[:32, :48]),
            422,
            "corrupt JPEG 2000 data: a box of length 0",
        ),
    ],
    ids=[
        "text",
        "mpeg-dicom",
        "truncated-png",
        "truncated-dicom",
        "empty",
        "bomb",
        "strip",
        "half-jpeg",
        "padded-jpeg",
        "tga",
        "jp2-zero-box",
    ],
)
def test_bad_images_are_refused_naming_the_file_and_the_reason(
    client, radiographs, tmp_path, write, status, reason
):
    bad = write(tmp_path, radiographs[0].astype(np.uint16) * 16)
    good = formats.write_png8(tmp_path, radiographs[0], "good.png")
    # One bad file fails the whole request, whichever place it has.
    assert_error(post(client, good, bad), status, f"{bad.name}: ", reason)


def test_a_hanging_decode_is_422_at_the_deadline_and_the_next_image_is_predicted(
    make_client, radiographs, tmp_path, monkeypatch
):
    # Without its pre-check pydicom loops for ever on this file; the deadline must end it.
    monkeypatch.setattr(decode_module, "_check_encapsulated_frame", lambda path, ds: None)
    client = make_client("threads=1", "decode_timeout_s=1")
    hanging = formats.write_jp2_dicom_with_zero_box(tmp_path, radiographs[0][:32, :48])
    good = formats.write_png8(tmp_path, radiographs[0], "good.png")
    assert_error(post(client, hanging), 422, "zero_box.dcm: decoding took longer than 1 s")
    assert post(client, good).status_code == 200  # the same (only) thread, a fresh process


def test_the_images_of_one_request_share_the_pixel_budget(make_client, radiographs, tmp_path):
    path = formats.write_png8(tmp_path, np.zeros((64, 64), np.uint8), "square.png")
    client = make_client(f"max_pixels={2 * 64 * 64}")
    assert post(client, path, path).status_code == 200
    response = post(client, path, path, path)
    assert_error(response, 413, "square.png: too many pixels", "share it: 0 pixels were left")


def test_uploads_from_another_origin_are_refused(client, radiographs, tmp_path):
    # A multipart POST is a CORS simple request: any page in a local browser could send it.
    path = formats.write_png8(tmp_path, radiographs[0])
    own = client.post(PREDICT, files=upload(path), headers={"Origin": "http://testserver"})
    assert own.status_code == 200
    for origin in ("http://evil.example", "http://testserver:3000", "null"):
        response = client.post(PREDICT, files=upload(path), headers={"Origin": origin})
        assert_error(response, 403, f"cross-origin upload refused: Origin {origin}")
    assert client.get("/api/v1/health", headers={"Origin": "http://evil.example"}).is_success


def test_a_request_without_files_or_with_bad_parameters_is_422(client, radiographs, tmp_path):
    assert_error(client.post(PREDICT), 422, "files", "Field required", "multipart/form-data")
    path = formats.write_png8(tmp_path, radiographs[0])
    response = client.post(PREDICT, files=upload(path), params={"explain": "perhaps"})
    assert_error(response, 422, "query.explain", "boolean")
    response = client.post(PREDICT, data={"files": "not a file"})
    assert_error(response, 422, "body.files")


def test_a_full_queue_is_answered_503_with_retry_after(make_client, radiographs, tmp_path):
    client = make_client("threads=1", "queue_size=0")
    runner, started, release = client.app.state.runner, threading.Event(), threading.Event()
    predict = runner.predict

    def slow_predict(*args):
        started.set()
        release.wait(30)
        return predict(*args)

    runner.predict = slow_predict
    path = formats.write_png8(tmp_path, radiographs[0])
    with ThreadPoolExecutor(1) as executor:
        first = executor.submit(post, client, path)
        assert started.wait(30)
        busy = post(client, path)
        release.set()
        assert first.result().status_code == 200
    assert_error(busy, 503, "server busy", "try again")
    assert busy.headers["retry-after"] == "1"
    assert post(client, path).status_code == 200  # the slot came back


# --- concurrency ---------------------------------------------------------------------------


def test_concurrent_requests_get_their_own_results(client, predictor, radiographs, tmp_path):
    paths = [formats.write_png8(tmp_path, a, f"{i}.png") for i, a in enumerate(radiographs)]
    sequential = [post(client, p, explain=True).json()["predictions"][0] for p in paths]
    # Twice each, all at once: 16 requests on 2 threads, overlays (CAM hooks) included.
    with ThreadPoolExecutor(len(paths)) as executor:
        responses = list(executor.map(lambda p: post(client, p, explain=True), paths * 2))
    expected = predict_paths(predictor, paths, progress=False)
    assert len({round(e.probability, 6) for e in expected}) > 1  # the images differ
    for response, seq, e in zip(responses, sequential * 2, expected * 2, strict=True):
        [got] = response.json()["predictions"]
        assert got["filename"] == seq["filename"]
        assert got["probability"] == pytest.approx(seq["probability"], abs=1e-6)
        assert got["probability"] == pytest.approx(e.probability, abs=1e-6)
        assert got["overlay"] == seq["overlay"]


def test_model_calls_never_overlap_though_requests_do(
    make_client, predictor, radiographs, tmp_path
):
    # Grad-CAM's hooks would record another thread's forward pass: the windows are too short
    # to hit by chance, so each forward pass here lasts long enough to be caught overlapping.
    client = make_client("threads=4", "queue_size=16")
    paths = [formats.write_png8(tmp_path, a, f"{i}.png") for i, a in enumerate(radiographs)]
    member = predictor.model.members[0]
    with most_at_once(member) as most, ThreadPoolExecutor(len(paths)) as executor:
        codes = [
            r.status_code for r in executor.map(lambda p: post(client, p, explain=True), paths)
        ]
    assert codes == [200] * len(paths)
    assert most[0] == 1


@contextmanager
def most_at_once(module: torch.nn.Module) -> Iterator[list[int]]:
    """``[n]``: the most forward passes of ``module`` that ran at once inside the block. Each
    lasts at least 20 ms, long enough for an overlap to be caught rather than hit by chance."""
    active, most, lock = [0], [0], threading.Lock()

    def enter(module, args):
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.02)

    def leave(module, args, output):
        with lock:
            active[0] -= 1

    hooks = [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]
    try:
        yield most
    finally:
        for hook in hooks:
            hook.remove()


def test_the_pool_bounds_waiting_calls_and_frees_slots_of_failed_ones():

    pool = InferencePool(threads=1, queue_size=1)
    gate = threading.Event()

    async def scenario():
        blocked = [asyncio.ensure_future(pool.run(gate.wait, 30)) for _ in range(2)]
        await asyncio.sleep(0.05)
        with pytest.raises(QueueFull):
            await pool.run(int, "1")
        gate.set()
        assert await asyncio.gather(*blocked) == [True, True]
        with pytest.raises(ValueError):
            await pool.run(int, "not a number")
        return await asyncio.gather(*(pool.run(int, "7") for _ in range(2)))

    assert asyncio.run(scenario()) == [7, 7]
    pool.shutdown()


# --- decoding uploads, settings and the console script ---------------------------------------


@pytest.mark.parametrize(
    "write",
    [
        lambda d, a: formats.write_png8(d, a),
        lambda d, a: formats.write_exif_rotated_jpeg(d, a),
        lambda d, a: formats.write_dicom(d, a.astype(np.uint16) * 16, "MONOCHROME1"),
        lambda d, a: formats.write_dicom_jpeg_baseline(d, a),
        lambda d, a: formats.write_text_as_png(d),
        lambda d, a: formats.write_truncated_dicom(d, a),
        lambda d, a: formats.write_zero_byte(d),
        lambda d, a: formats.write_huge_png_header(d, 30000, 30000),
    ],
    ids=["png", "jpeg", "dicom", "dicom-jpeg", "text", "truncated-dicom", "empty", "bomb"],
)
def test_an_upload_decodes_from_memory_exactly_as_from_its_file(radiographs, tmp_path, write):
    path = write(tmp_path, radiographs[2])
    try:
        expected = decode(path)
    except UnreadableImage as error:
        with pytest.raises(UnreadableImage) as from_memory:
            decode(io.BytesIO(path.read_bytes()))
        assert from_memory.value.reason == error.reason
        return
    got = decode(io.BytesIO(path.read_bytes()))
    assert (got.format, got.mode, got.width, got.height) == (
        expected.format,
        expected.mode,
        expected.width,
        expected.height,
    )
    np.testing.assert_array_equal(np.asarray(got.image), np.asarray(expected.image))


def test_the_default_config_binds_to_loopback_with_the_documented_limits():
    cfg = serve_config()
    assert (cfg.host, cfg.port, cfg.root_path) == ("127.0.0.1", 8000, "")
    limits = settings()
    assert (limits.max_upload_mb, limits.max_files, limits.max_upload_bytes) == (20, 16, 20 << 20)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("threads=0", "threads=0 must be positive"),
        ("queue_size=-1", "queue_size=-1 must be 0 or more"),
        ("max_batch=0", "max_batch=0 must be positive"),
        ("max_wait_ms=-1", "max_wait_ms=-1 must be 0 or more"),
        ("explain_method=lime", "explain_method='lime' is not one of"),
        ("device=tpu", "device='tpu' is not one of"),
    ],
)
def test_bad_settings_are_refused_before_the_model_loads(override, message):
    with pytest.raises(ConfigError, match=message):
        settings(override)


@pytest.mark.parametrize(
    ("args", "message"),
    [(["ckpt=/nowhere/run"], "does not exist"), (["ckpt=x", "threads=0"], "must be positive")],
)
def test_console_errors_are_one_line(monkeypatch, args, message):
    # In-process: a subprocess costs seconds of imports; tests/test_serve_e2e.py starts one.
    monkeypatch.setattr(sys, "argv", ["fracture-serve", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert str(exit_info.value).startswith("fracture-serve: error: ")
    assert message in str(exit_info.value) and "\n" not in str(exit_info.value)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_model_on_the_gpu_answers_like_the_cpu(run_dir, radiographs, tmp_path):
    path = formats.write_png8(tmp_path, radiographs[3])
    answers = []
    for device in ("cpu", "cuda"):
        app = create_app(load_predictor(run_dir), settings(f"device={device}"))
        with TestClient(app) as client:
            answers.append(post(client, path, explain=True).json()["predictions"][0])
            assert client.get("/api/v1/model").json()["device"].startswith(device)
    assert answers[1]["probability"] == pytest.approx(answers[0]["probability"], abs=1e-4)
    assert answers[1]["overlay"].startswith("data:image/png;base64,")


def test_uploads_are_never_spooled_to_disk(client, tmp_path, monkeypatch):
    # A 3 MB upload (over Starlette's 1 MiB default spooling threshold) stays in memory.
    noise = np.random.default_rng(0).integers(0, 256, (1800, 1800), dtype=np.uint8)
    path = formats.write_png8(tmp_path, noise, "noise.png")
    assert path.stat().st_size > 3_000_000

    def to_disk(self):
        raise AssertionError("an upload was spooled to a temporary file")

    monkeypatch.setattr(tempfile.SpooledTemporaryFile, "rollover", to_disk)
    response = post(client, path)
    assert response.status_code == 200, response.text
