"""backend=onnx: ONNX Runtime gives fracture-predict and fracture-serve the numbers PyTorch
gives (1e-4), from an export directory or a checkpoint exported on the fly; Grad-CAM is refused."""

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from hydra import compose, initialize_config_dir

from fracture.errors import ConfigError
from fracture.inference.export import export
from fracture.inference.exported import load_exported
from fracture.inference.predict_cli import run_prediction
from fracture.serve import create_app
from fracture.trained.backends import TorchBackend
from fracture.trained.onnx_backend import OnnxBackend
from fracture.trained.predictor import load_predictor
from tests.conftest import CONF_DIR
from tests.test_serve import post, settings, tiny_run

PARITY = 1e-4


@pytest.fixture(scope="module")
def run_dir(tiny_root, tmp_path_factory) -> Path:
    return tiny_run(tiny_root, tmp_path_factory)


@pytest.fixture(scope="module")
def predictor(run_dir):
    return load_predictor(run_dir)


@pytest.fixture(scope="module")
def onnx_dir(predictor, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("onnx-backend")
    export(predictor, out, "onnx")
    return out


def predict_config(*overrides: str):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        return compose("predict", overrides=["device=cpu", *overrides])


def predicted(out: Path) -> dict[str, dict]:
    return {row["path"]: row for row in csv.DictReader((out / "predictions.csv").open())}


def images(batch: int, size: int = 32) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(batch))


@pytest.mark.parametrize("tta", [False, True])
def test_backend_returns_what_torch_returns(predictor, onnx_dir, tta):
    batch = images(5)
    with torch.no_grad():
        expected = TorchBackend(predictor.model, "cpu", tta)(batch)
    got = OnnxBackend(onnx_dir / "model.onnx", tta)(batch)
    assert got.dtype == torch.float64 and got.shape == expected.shape == (5, 1)
    np.testing.assert_allclose(got, expected, rtol=0, atol=PARITY)


def test_an_ensemble_reports_its_members(run_dir, tmp_path):
    best = next((run_dir / "checkpoints").glob("best-*.ckpt"))
    ensemble = load_predictor([best, run_dir / "checkpoints/last.ckpt"])
    export(ensemble, tmp_path, "onnx")
    batch = images(3)
    got = OnnxBackend(tmp_path / "model.onnx")(batch)
    assert got.shape == (3, 2)
    with torch.no_grad():
        expected = TorchBackend(ensemble.model)(batch)
    np.testing.assert_allclose(got, expected, rtol=0, atol=PARITY)


@pytest.mark.parametrize("source", ["run", "export"])
def test_predict_with_onnx_matches_torch(run_dir, onnx_dir, tiny_root, tmp_path, source):
    ckpt = run_dir if source == "run" else onnx_dir
    inputs = f"inputs={tiny_root}/test"
    run_prediction(predict_config(f"ckpt={run_dir}", inputs), tmp_path / "torch")
    summary = run_prediction(
        predict_config(f"ckpt={ckpt}", inputs, "backend=onnx"), tmp_path / "onnx"
    )
    expected, got = predicted(tmp_path / "torch"), predicted(tmp_path / "onnx")
    assert got.keys() == expected.keys() and len(got) == 8
    for path, row in got.items():
        assert float(row["probability"]) == pytest.approx(
            float(expected[path]["probability"]), abs=PARITY
        )
        assert row["prediction"] == expected[path]["prediction"]
    assert "(threshold " in summary and "0 unreadable" in summary


def test_predict_refuses_explain_and_unknown_backends_before_loading(tmp_path):
    missing = f"ckpt={tmp_path / 'missing.ckpt'}"
    for overrides, message in [
        (("backend=onnx", "explain=true"), "explain=true: Grad-CAM needs PyTorch's gradients"),
        (("backend=tflite",), "backend='tflite' is not one of torch, onnx"),
        (("backend=onnx", "device=cuda"), "backend=onnx runs on the CPU"),
    ]:
        cfg = predict_config(missing, f"inputs={tmp_path}", *overrides)
        with pytest.raises(ConfigError, match=message) as error:
            run_prediction(cfg, tmp_path / "out")
        assert "\n" not in str(error.value)


def test_an_export_directory_needs_backend_onnx(onnx_dir, tiny_root, tmp_path):
    cfg = predict_config(f"ckpt={onnx_dir}", f"inputs={tiny_root}/test")
    with pytest.raises(ConfigError, match=r"fracture-export directory .* backend=onnx"):
        run_prediction(cfg, tmp_path)


@pytest.fixture(scope="module")
def onnx_client(onnx_dir):
    app = create_app(load_exported(onnx_dir), settings("backend=onnx"))
    with TestClient(app) as client:
        yield client


def test_serve_with_onnx_matches_torch(onnx_client, predictor, tiny_root):
    paths = sorted((tiny_root / "test").rglob("*.png"))[:4]
    with TestClient(create_app(predictor, settings())) as torch_client:
        expected = post(torch_client, *paths).json()["predictions"]
    got = post(onnx_client, *paths).json()["predictions"]
    for a, b in zip(got, expected, strict=True):
        assert a["probability"] == pytest.approx(b["probability"], abs=PARITY)
        assert a["members"] == pytest.approx(b["members"], abs=PARITY)
        assert (a["label"], a["threshold"]) == (b["label"], b["threshold"])
        assert (a["model"], a["checkpoint_sha256"]) == (b["model"], b["checkpoint_sha256"])


def test_serve_with_onnx_describes_the_export_and_refuses_explain(
    onnx_client, predictor, tiny_root
):
    model = onnx_client.get("/api/v1/model").json()
    assert model["checkpoint_sha256"] == predictor.digest
    assert model["preprocessing"] == predictor.preprocessing.to_dict()
    assert (model["backbones"], model["explain_method"], model["device"]) == (
        ["resnet18"],
        None,
        "cpu",
    )
    assert onnx_client.get("/api/v1/health").json() == {"status": "ok", "model_loaded": True}
    path = sorted((tiny_root / "test").rglob("*.png"))[0]
    response = post(onnx_client, path, explain=True)
    assert response.status_code == 422
    assert "Grad-CAM needs PyTorch's gradients" in response.json()["detail"]
    assert "backend=torch" in response.json()["detail"]
