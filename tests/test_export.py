"""fracture-export: verified ONNX / TorchScript files, their sidecar, and the README recipe."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from PIL import Image

import fracture.inference.export as export_module
from fracture.data.decode import read_radiograph
from fracture.deploy import cli as export_cli
from fracture.errors import ConfigError, ExportError
from fracture.inference.export import FORMATS, SIDECAR, TOLERANCE, export, recipe
from fracture.train import train
from fracture.trained.predictor import MeanProbability, load_predictor
from tests.conftest import tiny_config

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def run_dir(tiny_root, tmp_path_factory) -> Path:
    """One tiny run for the module, its threshold and temperature chosen on val (not defaults)."""
    tmp = tmp_path_factory.mktemp("export")
    overrides = (
        "evaluation.threshold.policy=youden",
        "evaluation.temperature_scaling=true",
        "evaluation.bootstrap.resamples=50",
    )
    train(tiny_config(tiny_root, tmp / "run", *overrides))
    return tmp / "run"


@pytest.fixture(scope="module")
def predictor(run_dir):
    return load_predictor(run_dir)


@pytest.fixture(scope="module")
def onnx_dir(predictor, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("onnx")
    export(predictor, out, "onnx")
    return out


def sidecar(out: Path) -> dict:
    return json.loads((out / SIDECAR).read_text())


def fresh_images(batch: int, size: int = 32) -> torch.Tensor:
    # Another seed than the export's own check: parity must not depend on its inputs.
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(100 + batch))


def torch_probability(predictor, images: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return MeanProbability(predictor.model)(images).numpy()


def onnx_probability(path: Path, images: torch.Tensor) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["probability"], {"images": images.numpy()})[0]


@pytest.mark.parametrize("batch", [1, 5])
def test_onnx_matches_pytorch_at_any_batch_size(predictor, onnx_dir, batch):
    images = fresh_images(batch)
    got = onnx_probability(onnx_dir / "model.onnx", images)
    assert got.shape == (batch,)
    np.testing.assert_allclose(got, torch_probability(predictor, images), rtol=0, atol=TOLERANCE)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_torchscript_matches_pytorch_at_any_batch_size(predictor, tmp_path):
    record = export(predictor, tmp_path, "torchscript")
    scripted = torch.jit.load(str(tmp_path / "model.pt"))
    for batch in (1, 5):
        images = fresh_images(batch)
        with torch.no_grad():
            got = scripted(images).numpy()
        np.testing.assert_allclose(got, torch_probability(predictor, images), atol=TOLERANCE)
    assert record["format"] == "torchscript" and record["opset"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.pt"]


def test_sidecar_holds_what_preprocessing_and_deciding_need(predictor, onnx_dir, run_dir):
    record = sidecar(onnx_dir)
    checkpoint = predictor.sources[0]
    stored = torch.load(checkpoint, weights_only=True)["fracture"]["decision"]
    assert record["threshold"] == pytest.approx(stored["threshold"]) != 0.5
    assert record["temperatures"] == [pytest.approx(stored["temperature"])]
    assert record["digest"] == predictor.digest
    assert record["sources"] == [str(checkpoint.resolve())]
    assert (record["image_size"], record["resize_size"]) == (32, 32)
    assert record["mean"] == list(predictor.preprocessing.mean)
    assert record["class_names"] == ["not_fractured", "fractured"]
    assert record["input"] == {"name": "images", "dtype": "float32", "shape": ["batch", 3, 32, 32]}
    assert record["output"]["name"] == "probability" and record["output"]["shape"] == ["batch"]
    assert (record["format"], record["exporter"], record["opset"]) == ("onnx", "dynamo", 20)
    assert record["verification"]["max_abs_difference"] <= TOLERANCE
    assert record["fit"] == predictor.preprocessing.fit and record["fracture_version"]
    assert record["preprocessing"] == recipe(record["fit"])
    # Fixed names only, nothing derived from the checkpoint's path, no temporary files.
    assert sorted(p.name for p in onnx_dir.iterdir()) == ["model.json", "model.onnx"]


def test_ensemble_exports_the_mean_of_its_members(run_dir, tmp_path):
    best = next((run_dir / "checkpoints").glob("best-*.ckpt"))
    last = run_dir / "checkpoints/last.ckpt"
    ensemble = load_predictor([best, last])
    record = export(ensemble, tmp_path, "onnx")
    images = fresh_images(5)
    got = onnx_probability(tmp_path / "model.onnx", images)
    members = [torch_probability(load_predictor(f), images) for f in (best, last)]
    np.testing.assert_allclose(got, np.mean(members, axis=0), atol=TOLERANCE)
    assert record["sources"] == [str(best.resolve()), str(last.resolve())]
    assert record["digest"] == ensemble.digest and record["threshold"] == 0.5
    assert len(record["temperatures"]) == 2


@pytest.mark.parametrize("format", ["onnx", "torchscript"])
def test_a_model_that_disagrees_is_not_written(predictor, tmp_path, monkeypatch, format):
    reference = export_module._reference
    monkeypatch.setattr(export_module, "_reference", lambda m, x: reference(m, x) + 1e-3)
    with pytest.raises(ExportError, match=r"differs from PyTorch by 0\.001"):
        export(predictor, tmp_path, format)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
def test_torchscript_based_onnx_exporter_is_the_fallback(predictor, tmp_path, monkeypatch):
    def dynamo_fails(*args):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(export_module, "_onnx_dynamo", dynamo_fails)
    record = export(predictor, tmp_path, "onnx")
    assert record["exporter"] == "torchscript"
    images = fresh_images(5)
    got = onnx_probability(tmp_path / "model.onnx", images)
    np.testing.assert_allclose(got, torch_probability(predictor, images), atol=TOLERANCE)


def test_bad_format_and_an_earlier_export_are_refused(predictor, onnx_dir, tmp_path):
    with pytest.raises(ConfigError, match="format='tflite'"):
        export(predictor, tmp_path, "tflite")
    with pytest.raises(ExportError, match=r"already holds model\.onnx, model\.json"):
        export(predictor, onnx_dir, "torchscript")
    assert set(FORMATS) == {"onnx", "torchscript"}


def readme_snippet() -> str:
    section = README.read_text().split("## Export", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_snippet_runs_without_fracture_and_agrees(predictor, onnx_dir, tiny_root, tmp_path):
    snippet = readme_snippet()
    assert len(snippet.splitlines()) <= 10 and "fracture" not in snippet
    for name in ("model.onnx", "model.json"):
        (tmp_path / name).symlink_to(onnx_dir / name)
    # Not square, so the resize and the centre crop (odd offset) both matter.
    source = sorted(tiny_root.glob("test/fractured/*.png"))[0]
    Image.open(source).convert("L").crop((0, 4, 48, 43)).save(tmp_path / "xray.png")
    # Isolated interpreter in which `import fracture` fails: the recipe must stand alone.
    guard = "import sys; sys.modules['fracture'] = None; exec(open('snippet.py').read())"
    (tmp_path / "snippet.py").write_text(snippet)
    result = subprocess.run(
        [sys.executable, "-I", "-c", guard], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    probability, decision = result.stdout.split()
    image = predictor.preprocessing.eval_transform()(read_radiograph(tmp_path / "xray.png"))
    expected = float(torch_probability(predictor, image[None])[0])
    assert float(probability) == pytest.approx(expected, abs=1e-4)
    assert decision == predictor.decision.class_names[int(expected >= predictor.threshold)]


def run_console(*args: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "fracture-export"
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=600)


@pytest.mark.e2e
@pytest.mark.slow
def test_console_script_exports_into_the_hydra_run_dir(run_dir, predictor, tmp_path):
    result = run_console(f"ckpt={run_dir}", f"hydra.run.dir={tmp_path / 'export'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "wrote model.onnx" in result.stdout
    record = sidecar(tmp_path / "export")
    assert record["digest"] == predictor.digest and record["exporter"] == "dynamo"
    images = fresh_images(3)
    got = onnx_probability(tmp_path / "export/model.onnx", images)
    np.testing.assert_allclose(got, torch_probability(predictor, images), atol=TOLERANCE)


@pytest.mark.parametrize(
    ("missing", "args", "message"),
    [(False, ["format=tflite"], "format='tflite' is not one of"), (True, [], "does not exist")],
)
def test_console_errors_are_one_line(run_dir, tmp_path, monkeypatch, missing, args, message):
    # In-process (a subprocess costs ~10 s of imports); Hydra left off the logging setup.
    ckpt = tmp_path / "missing.ckpt" if missing else run_dir
    hydra_args = ["hydra/job_logging=none", "hydra/hydra_logging=none"]
    out = f"hydra.run.dir={tmp_path / 'export'}"
    monkeypatch.setattr(sys, "argv", ["fracture-export", f"ckpt={ckpt}", *args, out, *hydra_args])
    with pytest.raises(SystemExit) as exit_info:
        export_cli.main()
    assert str(exit_info.value).startswith("fracture-export: error: ")
    assert message in str(exit_info.value) and "\n" not in str(exit_info.value)
    assert not (tmp_path / "export/model.onnx").exists()
