"""Evaluation after training and by fracture-eval: the same code, every file, stored decision."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from sklearn import metrics as skm
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fracture.evaluation.cli import evaluate_checkpoint
from fracture.evaluation.metrics import METRIC_NAMES
from fracture.evaluation.thresholds import choose_threshold
from fracture.train import train
from fracture.trained.checkpoints import load_classifier, resolve_checkpoint
from tests.conftest import CONF_DIR

FILES = (
    "metrics.json",
    "predictions.csv",
    "confusion_matrix.png",
    "roc.png",
    "pr.png",
    "reliability.png",
)


def plain_probabilities(checkpoint: Path, cfg, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Independent reference: the checkpoint over a split in a plain loop."""
    model = load_classifier(checkpoint)
    datamodule = instantiate(cfg.data)
    datamodule.setup("test")
    probabilities, labels = [], []
    with torch.no_grad():
        loader = getattr(datamodule, f"{split}_dataloader")()
        for images, targets in loader:
            probabilities.append(model(images).softmax(1)[:, 1])
            labels.append(targets)
    return torch.cat(probabilities).double().numpy(), torch.cat(labels).numpy()


@pytest.fixture
def youden_run(tiny_cfg, tmp_path):
    cfg = tiny_cfg(
        "experiment=finetune",
        "evaluation.threshold.policy=youden",
        "evaluation.bootstrap.resamples=200",
    )
    return cfg, train(cfg), tmp_path / "run"


def test_training_writes_every_file_and_metric_with_intervals(youden_run):
    _, metrics, run = youden_run
    for name in FILES:
        assert (run / name).stat().st_size > 100, name
    for name in METRIC_NAMES:
        assert f"test/{name}" in metrics, name
        interval = metrics[f"test/{name}_ci"]
        if metrics[f"test/{name}"] is not None and interval[0] is not None:
            assert interval[0] <= metrics[f"test/{name}"] + 1e-9 and interval[1] >= interval[0]
    assert metrics["threshold"]["policy"] == "youden" and metrics["threshold"]["chosen_on"] == "val"
    tags = EventAccumulator(str(run)).Reload().Tags()
    assert {"test/roc", "test/pr", "test/reliability", "test/confusion_matrix"} <= set(
        tags["images"]
    )
    assert "test/pr_curve" in tags["tensors"]


def test_threshold_is_chosen_on_val_stored_in_the_checkpoint_and_applied_to_test(youden_run):
    cfg, metrics, run = youden_run
    checkpoint = resolve_checkpoint(run)
    assert checkpoint == run / "model.ckpt"  # the trained model, not a training checkpoint
    stored = torch.load(checkpoint, weights_only=True)["fracture"]["decision"]["threshold"]
    val_p, val_y = plain_probabilities(checkpoint, cfg, "val")
    expected = choose_threshold(val_p, val_y, "youden")
    assert stored == pytest.approx(expected, abs=1e-6)
    assert metrics["threshold"]["value"] == pytest.approx(stored)
    # Test metrics at that threshold, against scikit-learn on the plain loop.
    p, y = plain_probabilities(checkpoint, cfg, "test")
    predicted = (p >= stored).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y, predicted, labels=[0, 1]).ravel()
    expected = {
        "acc": skm.accuracy_score(y, predicted),
        "balanced_acc": skm.balanced_accuracy_score(y, predicted),
        "f1": skm.f1_score(y, predicted, zero_division=0),
        "precision": skm.precision_score(y, predicted, zero_division=0),
        "recall": skm.recall_score(y, predicted, zero_division=0),
        "specificity": tn / (tn + fp),
        "npv": tn / (tn + fn) if tn + fn else 0.0,
        "auroc": skm.roc_auc_score(y, p),
        "auprc": skm.average_precision_score(y, p),
        "kappa": skm.cohen_kappa_score(y, predicted),
        "brier": skm.brier_score_loss(y, p),
    }
    for name, value in expected.items():
        assert metrics[f"test/{name}"] == pytest.approx(value, abs=1e-5), name
    assert metrics["test/confusion_matrix"] == [[tn, fp], [fn, tp]]


def compose_config_eval(overrides: list[str]):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        return compose("eval", overrides=overrides)


def test_fracture_eval_with_the_stored_threshold_reproduces_training(youden_run, tmp_path):
    _, metrics, run = youden_run
    cfg = compose_config_eval([f"ckpt={run}", "evaluation.bootstrap.resamples=200"])
    out = tmp_path / "eval"
    evaluated = evaluate_checkpoint(cfg, out)
    for name in FILES:
        assert (out / name).stat().st_size > 100, name
    assert evaluated["threshold"]["policy"] == "stored"
    for name in METRIC_NAMES:
        assert evaluated[f"test/{name}"] == pytest.approx(metrics[f"test/{name}"], nan_ok=True), (
            name
        )
        assert evaluated[f"test/{name}_ci"] == pytest.approx(
            metrics[f"test/{name}_ci"], nan_ok=True
        )
    assert (out / "predictions.csv").read_text() == (run / "predictions.csv").read_text()


def test_fracture_eval_on_another_dataset_and_split(youden_run, tiny_root, tmp_path):
    _, _, run = youden_run
    cfg = compose_config_eval(
        [
            f"ckpt={run}",
            "data=folder",
            f"data.root={tiny_root}",
            f"data.cache_dir={tmp_path}/c",
            "split=val",
            "evaluation.threshold.policy=fixed",
            "evaluation.bootstrap.resamples=0",
        ]
    )
    evaluated = evaluate_checkpoint(cfg, tmp_path / "eval")
    assert evaluated["threshold"] == {"value": 0.5, "policy": "fixed", "chosen_on": "val"}
    assert sum(map(sum, evaluated["val/confusion_matrix"])) == 8
    assert "val/acc_ci" not in evaluated


def test_temperature_scaling_is_fitted_on_val_and_reported(tiny_cfg, tmp_path):
    cfg = tiny_cfg("evaluation.temperature_scaling=true", "evaluation.bootstrap.resamples=0")
    metrics = train(cfg)
    temperature = metrics["temperature"]
    assert temperature["fitted"] and temperature["value"] > 0
    assert (
        set(temperature["before"])
        == set(temperature["after"])
        == {"test/brier", "test/ece", "test/nll"}
    )
    stored = torch.load(resolve_checkpoint(tmp_path / "run"), weights_only=True)["fracture"][
        "decision"
    ]
    assert stored["temperature"] == pytest.approx(temperature["value"])


@pytest.mark.e2e
@pytest.mark.slow
def test_fracture_eval_console_script(youden_run, tmp_path):
    _, _, run = youden_run
    out = tmp_path / "cli"
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "fracture-eval"),
            f"ckpt={run}",
            f"hydra.run.dir={out}",
            "evaluation.bootstrap.resamples=100",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "auroc" in result.stdout
    assert json.loads((out / "metrics.json").read_text())["split"] == "test"


def test_fracture_eval_missing_checkpoint_is_one_line(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fracture.evaluation.cli",
            f"ckpt={tmp_path / 'none.ckpt'}",
            f"hydra.run.dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    last = [line for line in result.stderr.splitlines() if line.strip()][-1]
    assert last.startswith("fracture-eval: error: checkpoint") and "none.ckpt" in last


def test_the_printed_summary_survives_undefined_metrics():
    from fracture.evaluation.summary import metrics_summary

    metrics = {"threshold": {"value": 0.4, "policy": "youden"}, "test/acc": 0.9}
    metrics |= {"test/acc_ci": [0.8, 0.95], "test/auroc": None, "test/auroc_ci": [None, None]}
    lines = metrics_summary(metrics, "test").splitlines()
    assert lines[0] == "test: threshold 0.400 (youden)"
    assert "  acc: 0.900 [0.800, 0.950]" in lines and "  auroc: -" in lines
