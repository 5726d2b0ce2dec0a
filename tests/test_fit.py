"""data.fit=crop|pad|resize: recorded in the checkpoint and applied alike by every tool."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from fracture.data.dataset import RadiographDataset
from fracture.data.input_files import InputFiles
from fracture.data.preprocessing import FITS, Preprocessing
from fracture.data.samples import Sample
from fracture.errors import ConfigError
from fracture.evaluation.predictions import predict_samples
from fracture.inference.export import export
from fracture.inference.predict import predict_paths
from fracture.models.classifier import CHECKPOINT_KEY
from fracture.serve import create_app
from fracture.train import train
from fracture.trained.checkpoints import load_classifier
from fracture.trained.predictor import load_predictor
from tests.conftest import tiny_config
from tests.test_export import readme_snippet
from tests.test_serve import PREDICT, settings, upload


def ends_marked(height: int = 40, width: int = 20) -> torch.Tensor:
    """A portrait film, mid-grey, with white bands at both ends (uint8 (1, H, W))."""
    image = torch.full((1, height, width), 128, dtype=torch.uint8)
    image[:, :4], image[:, -4:] = 255, 255
    return image


@pytest.mark.parametrize(("fit", "ends_seen"), [("crop", False), ("pad", True), ("resize", True)])
def test_crop_cuts_the_ends_of_a_long_film_and_pad_and_resize_keep_them(fit, ends_seen):
    fitted = Preprocessing(image_size=20, resize_size=20, fit=fit).eval_transform(uint8=True)
    image = fitted(ends_marked())
    assert image.shape == (1, 20, 20)
    assert bool((image[0, :2] > 200).any() and (image[0, -2:] > 200).any()) is ends_seen
    if fit == "pad":  # the film is 10 px wide in the square: black bars, 5 px each side
        assert (image[0, :, :5] == 0).all() and (image[0, :, -5:] == 0).all()
        assert (image[0, 8:12, 5:15] == 128).all()


def test_letterbox_puts_the_odd_pixel_on_the_left_and_top():
    image = Preprocessing(image_size=8, fit="pad").eval_transform(uint8=True)(ends_marked(8, 5))
    columns = (image[0] != 0).any(dim=0).nonzero().flatten().tolist()
    assert columns == [2, 3, 4, 5, 6]  # 3 black columns: 2 left, 1 right


def test_unknown_fit_is_a_one_line_config_error():
    with pytest.raises(ConfigError, match=r"^data\.fit='squash' is unknown; use one of crop, pad"):
        Preprocessing(fit="squash")


def test_checkpoints_from_before_fit_existed_read_as_crop():
    old = Preprocessing().to_dict()
    del old["fit"]
    assert Preprocessing.from_dict(old).fit == "crop"


@pytest.fixture(scope="module")
def checkpoints(tiny_root, tmp_path_factory) -> dict:
    """A tiny run trained with data.fit=pad, and copies of its best checkpoint recording
    each fit (the weights are the same; what differs is how images reach them)."""
    run = tmp_path_factory.mktemp("fit") / "run"
    overrides = ("data.fit=pad", "trainer.max_epochs=1", "evaluation.bootstrap.resamples=0")
    metrics = train(tiny_config(tiny_root, run, *overrides))
    best = run / metrics["best_checkpoint"]
    assert load_classifier(best).preprocessing.fit == "pad"  # training recorded its fit
    files = {}
    for fit in FITS:
        files[fit] = run.parent / fit / "model.ckpt"
        files[fit].parent.mkdir()
        checkpoint = torch.load(best, map_location="cpu", weights_only=True)
        checkpoint[CHECKPOINT_KEY]["preprocessing"]["fit"] = fit
        torch.save(checkpoint, files[fit])
    old = torch.load(best, map_location="cpu", weights_only=True)
    del old[CHECKPOINT_KEY]["preprocessing"]["fit"]
    files["old"] = run.parent / "old.ckpt"
    torch.save(old, files["old"])
    return files


@pytest.fixture(scope="module")
def xray(tiny_root, tmp_path_factory):
    """A portrait crop of a test radiograph: odd sizes, so bars and offsets are uneven."""
    source = sorted(tiny_root.glob("test/fractured/*.png"))[0]
    path = tmp_path_factory.mktemp("xray") / "xray.png"
    Image.open(source).convert("L").crop((6, 0, 35, 48)).save(path)
    return path


def test_old_checkpoints_load_as_crop(checkpoints):
    assert load_classifier(checkpoints["old"]).preprocessing.fit == "crop"


@pytest.mark.slow
@pytest.mark.parametrize("fit", FITS)
def test_eval_predict_serve_and_export_see_the_same_input(checkpoints, xray, fit, tmp_path):
    predictor = load_predictor(checkpoints[fit])
    model = load_classifier(checkpoints[fit])
    assert predictor.preprocessing.fit == fit
    # The tensors: fracture-eval's dataset and fracture-predict's inputs.
    evaluated = RadiographDataset([Sample(xray, 1)], model.preprocessing.eval_transform())[0][0]
    predicted = InputFiles([xray], predictor.preprocessing.eval_transform(), 10**8, 30.0)[0][0]
    assert torch.equal(evaluated, predicted)
    # The probabilities: eval, predict, serve and the exported ONNX model via the README.
    evaluation = predict_samples(model, [Sample(xray, 1)])
    evaluation = evaluation.probabilities(model.decision.temperature)[0]
    [prediction] = predict_paths(predictor, [xray], progress=False)
    with TestClient(create_app(predictor, settings())) as client:
        response = client.post(PREDICT, files=upload(xray))
    served = response.json()["predictions"][0]["probability"]
    assert prediction.probability == pytest.approx(evaluation, abs=1e-6)
    assert served == pytest.approx(evaluation, abs=1e-6)
    assert _readme_onnx_probability(predictor, xray, tmp_path) == pytest.approx(
        evaluation, abs=1e-4
    )


def test_the_fit_changes_what_the_model_sees(checkpoints, xray):
    inputs = {
        fit: load_predictor(checkpoints[fit]).preprocessing.eval_transform()(Image.open(xray))
        for fit in FITS
    }
    assert not torch.equal(inputs["crop"], inputs["pad"])
    assert not torch.equal(inputs["pad"], inputs["resize"])


def _readme_onnx_probability(predictor, xray, tmp_path) -> float:
    export(predictor, tmp_path / "export", "onnx")
    for name in ("model.onnx", "model.json"):
        shutil.copy(tmp_path / "export" / name, tmp_path / name)
    shutil.copy(xray, tmp_path / "xray.png")
    (tmp_path / "snippet.py").write_text(readme_snippet())
    guard = "import sys; sys.modules['fracture'] = None; exec(open('snippet.py').read())"
    result = subprocess.run(
        [sys.executable, "-I", "-c", guard], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return float(result.stdout.split()[0])


def test_every_fit_fits_the_image_into_the_model_square():
    image = torch.from_numpy(np.arange(37 * 23, dtype=np.uint8).reshape(1, 37, 23))
    for fit in FITS:
        assert Preprocessing(image_size=16, resize_size=18, fit=fit).eval_transform()(
            image
        ).shape == (3, 16, 16)
