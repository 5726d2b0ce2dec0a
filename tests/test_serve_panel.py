"""The page's model panel and views, server side: the checkpoint's card (or "not recorded"),
the CAM grid, the PNG preview of DICOM / 16-bit uploads, the CAM layers and the favicon."""

import base64
import io
import json

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from fracture.data.decode import decode
from fracture.serve import create_app
from fracture.serve.panel import PREVIEW_SIDE
from fracture.trained.predictor import load_predictor
from tests import formats
from tests.test_serve import post, settings, tiny_run


@pytest.fixture(scope="module")
def run_dir(tiny_root, tmp_path_factory):
    return tiny_run(tiny_root, tmp_path_factory)


@pytest.fixture(scope="module")
def client(run_dir):
    with TestClient(create_app(load_predictor(run_dir), settings())) as client:
        yield client


def data_url_image(url: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    return Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :])))


def test_model_panel_shows_what_the_checkpoint_stores(client, run_dir):
    model = client.get("/api/v1/model").json()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    card = model["card"]
    assert card["validation"] == {
        "threshold": model["threshold"],
        "sensitivity": metrics["val/recall"],
        "specificity": metrics["val/specificity"],
        "auroc": metrics["val/auroc"],
    }
    assert card["training_data"]["images"] == metrics["data/images"]
    assert card["intended_use"].startswith("Research on bone X-rays")
    assert model["cam_grid"] == [1, 1]  # resnet18 at 32 px: image_size / 32


def test_a_checkpoint_without_a_card_is_not_recorded(run_dir, tmp_path):
    state = torch.load(run_dir / "model.ckpt", weights_only=True)
    del state["fracture"]["card"]
    older = tmp_path / "older.ckpt"
    torch.save(state, older)
    with TestClient(create_app(load_predictor(older), settings())) as client:
        assert client.get("/api/v1/model").json()["card"] is None


@pytest.mark.parametrize(
    "write",
    [
        lambda d, a: formats.write_dicom(d, a.astype(np.uint16) * 16, name="x.dcm"),
        lambda d, a: formats.write_png16(d, a.astype(np.uint16) * 257, "x16.png"),
    ],
    ids=["dicom", "png16"],
)
def test_preview_is_the_decoded_image_as_png(client, tmp_path, write):
    pixels = np.random.default_rng(5).integers(0, 256, (700, 600)).astype(np.uint8)
    path = write(tmp_path, pixels)
    files = {"file": (path.name, path.read_bytes(), "application/octet-stream")}
    response = client.post("/api/v1/preview", files=files)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    expected = decode(path).image
    expected.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    served = Image.open(io.BytesIO(response.content))
    np.testing.assert_array_equal(np.asarray(served), np.asarray(expected))


def test_preview_of_a_bad_file_names_it(client, tmp_path):
    path = formats.write_text_as_png(tmp_path)
    files = {"file": (path.name, path.read_bytes(), "image/png")}
    response = client.post("/api/v1/preview", files=files)
    assert response.status_code == 415  # as /predict answers it
    assert response.json()["detail"].startswith("notes.png: not an image")


def test_explain_sends_the_overlay_layers(client, tmp_path):
    pixels = np.random.default_rng(6).integers(0, 256, (64, 64)).astype(np.uint8)
    path = formats.write_png8(tmp_path, pixels, "wrist.png")
    [got] = post(client, path, explain=True).json()["predictions"]
    overlay, view, cam = (data_url_image(got[k]) for k in ("overlay", "view", "cam"))
    assert overlay.size == view.size == cam.size
    assert view.mode == "L" and cam.mode == "RGB"


def test_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response.headers["content-type"] == "image/svg+xml"
