"""fracture-predict: agrees with evaluation, TTA, ensembles, unreadable inputs, safe outputs."""

import csv
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import fracture.data.decode as decode_module
from fracture.data.decode import read_radiograph
from fracture.errors import DataError
from fracture.evaluation.cli import evaluate_checkpoint
from fracture.evaluation.predictions import read_predictions
from fracture.evaluation.thresholds import choose_threshold
from fracture.inference.inputs import expand_inputs
from fracture.inference.predict import predict_paths
from fracture.inference.predict_cli import run_prediction
from fracture.train import train
from fracture.trained.predictor import load_predictor
from tests import formats
from tests.conftest import CONF_DIR, tiny_config


@pytest.fixture(scope="module")
def trained(tiny_root, tmp_path_factory):
    """A tiny trained run (its evaluation wrote predictions.csv for the test split)."""
    run = tmp_path_factory.mktemp("predict") / "run"
    overrides = ("evaluation.bootstrap.resamples=0", "evaluation.threshold.policy=youden")
    train(tiny_config(tiny_root, run, *overrides))
    return run


def config(name: str, *overrides: str):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        return compose(name, overrides=list(overrides))


def rows(path: Path) -> list[dict]:
    return list(csv.DictReader(path.read_text().splitlines()))


def test_prediction_matches_the_evaluation_of_the_same_checkpoint(trained, tiny_root, tmp_path):
    summary = run_prediction(
        config("predict", f"ckpt={trained}", f"inputs={tiny_root}/test"), tmp_path
    )
    predicted = {r["path"]: r for r in rows(tmp_path / "predictions.csv")}
    evaluated = read_predictions(trained / "predictions.csv")
    assert len(predicted) == len(evaluated["path"]) == 8
    threshold = load_predictor(trained).threshold
    for path, probability in zip(evaluated["path"], evaluated["probability"], strict=True):
        row = predicted[path]
        assert float(row["probability"]) == pytest.approx(probability, abs=1e-5)
        assert row["prediction"] == ("fractured" if probability >= threshold else "not_fractured")
    assert summary.startswith("8 images:") and "0 unreadable" in summary


def test_tta_is_the_mean_of_the_image_and_its_mirror(trained, tiny_root):
    predictor = load_predictor(trained)
    paths = sorted((tiny_root / "val").rglob("*.png"))[:4]
    plain = predict_paths(predictor, paths, progress=False)
    with_tta = predict_paths(predictor, paths, tta=True, progress=False)
    transform = predictor.preprocessing.eval_transform()
    images = torch.stack([transform(read_radiograph(p)) for p in paths])
    with torch.no_grad():
        mirrored = predictor.model(torch.flip(images, dims=[-1]))[:, 0].double()
    for a, b, m in zip(plain, with_tta, mirrored.tolist(), strict=True):
        assert b.probability == pytest.approx((a.probability + m) / 2, abs=1e-6)


def test_an_ensemble_of_two_identical_checkpoints_equals_one(trained, tiny_root, tmp_path):
    best = next((trained / "checkpoints").glob("best-*.ckpt"))
    copy = tmp_path / "copy.ckpt"
    shutil.copy(best, copy)
    paths = sorted((tiny_root / "test").rglob("*.png"))
    single = predict_paths(load_predictor(best), paths, progress=False)
    ensemble = predict_paths(load_predictor([best, copy]), paths, progress=False)
    for one, two in zip(single, ensemble, strict=True):
        assert two.probability == pytest.approx(one.probability, abs=1e-7)
        assert two.members == pytest.approx([one.probability] * 2, abs=1e-7)


def test_ensemble_threshold_is_chosen_on_val_and_travels_in_ensemble_json(trained, tmp_path):
    best = next((trained / "checkpoints").glob("best-*.ckpt"))
    last = trained / "checkpoints" / "last.ckpt"
    cfg = config(
        "eval",
        f"ckpt=[{best},{last}]",
        "evaluation.threshold.policy=youden",
        "evaluation.bootstrap.resamples=0",
    )
    metrics = evaluate_checkpoint(cfg, tmp_path / "eval")
    ensemble = load_predictor(tmp_path / "eval" / "ensemble.json")
    assert ensemble.is_ensemble and ensemble.threshold == pytest.approx(
        metrics["threshold"]["value"]
    )
    # Independent: the mean of the two members' val probabilities, thresholded by Youden.
    val = sorted((Path(cfg_root(trained)) / "val").rglob("*.png"))
    members = [predict_paths(load_predictor(c), val, progress=False) for c in (best, last)]
    mean = [(a.probability + b.probability) / 2 for a, b in zip(*members, strict=True)]
    labels = [int(p.parent.name == "fractured") for p in val]
    assert ensemble.threshold == pytest.approx(choose_threshold(mean, labels, "youden"), abs=1e-6)


def cfg_root(run: Path) -> str:
    return OmegaConf.load(run / "config.yaml").data.root


def test_unreadable_inputs_are_reported_and_the_rest_predicted(trained, tiny_root, tmp_path):
    folder = tmp_path / "new"
    shutil.copytree(tiny_root / "test" / "fractured", folder)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (folder / "empty.jpg").write_bytes(b"")
    missing = tmp_path / "missing.png"
    run_prediction(
        config("predict", f"ckpt={trained}", f"inputs=[{folder},{missing}]"), tmp_path / "out"
    )
    by_name = {Path(r["path"]).name: r for r in rows(tmp_path / "out" / "predictions.csv")}
    assert (
        by_name["empty.jpg"]["error"] == "zero bytes" and by_name["empty.jpg"]["probability"] == ""
    )
    assert by_name["broken.png"]["error"] and by_name["missing.png"]["error"]
    readable = [r for r in by_name.values() if not r["error"]]
    assert len(readable) == 4 and all(0 <= float(r["probability"]) <= 1 for r in readable)


# num_workers=1: DataLoader workers are daemonic, and still start their decoding process.
@pytest.mark.parametrize(("precheck", "workers"), [(True, 0), (False, 0), (False, 1)])
def test_a_hanging_dicom_is_unreadable_within_the_deadline(
    trained, tiny_root, tmp_path, monkeypatch, precheck, workers
):
    folder = tmp_path / "new"
    shutil.copytree(tiny_root / "test" / "fractured", folder)
    formats.write_jp2_dicom_with_zero_box(folder, np.zeros((32, 48), np.uint8))
    if not precheck:  # pydicom then loops for ever: only the deadline ends it
        monkeypatch.setattr(decode_module, "_check_encapsulated_frame", lambda path, ds: None)
    cfg = config(
        "predict",
        f"ckpt={trained}",
        f"inputs={folder}",
        "decode_timeout_s=1",
        f"num_workers={workers}",
    )
    run_prediction(cfg, tmp_path / "out")
    by_name = {Path(r["path"]).name: r for r in rows(tmp_path / "out" / "predictions.csv")}
    assert by_name.pop("zero_box.dcm")["error"] == (
        "corrupt JPEG 2000 data: a box of length 0 at byte 12"
        if precheck
        else "decoding took longer than 1 s"
    )
    assert len(by_name) == 4 and all(0 <= float(r["probability"]) <= 1 for r in by_name.values())


def test_members_with_different_preprocessing_are_refused(trained, tmp_path):
    best = next((trained / "checkpoints").glob("best-*.ckpt"))
    other = tmp_path / "other.ckpt"
    checkpoint = torch.load(best, weights_only=True)
    checkpoint["fracture"]["preprocessing"]["image_size"] = 48
    torch.save(checkpoint, other)
    with pytest.raises(DataError, match="same image size"):
        load_predictor([best, other])


def test_inputs_that_match_nothing_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match="no images"):
        expand_inputs([str(tmp_path / "*.png")])


@pytest.mark.e2e
@pytest.mark.slow
def test_console_script(trained, tiny_root, tmp_path):
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "fracture-predict"),
            f"ckpt={trained}",
            f"inputs={tiny_root}/val/*/*.png",
            f"hydra.run.dir={tmp_path}",
            "tta=true",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1].startswith("8 images:")
    assert len(rows(tmp_path / "predictions.csv")) == 8


def test_explain_writes_overlays_only_inside_the_output_folder(trained, tiny_root, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    strange = inputs / "x ..%2F..%2Fescape;rm.png"
    shutil.copy(next((tiny_root / "test" / "fractured").glob("*.png")), strange)
    out = tmp_path / "out"
    run_prediction(config("predict", f"ckpt={trained}", f"inputs={inputs}", "explain=true"), out)
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert all(p.parts[0] in ("in", "out") for p in written)
    (row,) = rows(out / "predictions.csv")
    overlay = out / row["overlay"]
    assert overlay.parent == out / "overlays" and overlay.is_file()
    assert re.fullmatch(r"\d{5}_[A-Za-z0-9._-]+\.png", overlay.name), overlay.name


@pytest.mark.parametrize("content", ["not a checkpoint\n", '{"format": 1}\n'])
def test_a_file_that_is_no_checkpoint_is_a_one_line_error(tmp_path, content):
    path = tmp_path / ("thing.json" if content.startswith("{") else "thing.ckpt")
    path.write_text(content)
    with pytest.raises(DataError) as error:
        load_predictor(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)
