"""Study-level metrics (MURA): mean probability per study, scored like images."""

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from fracture.data.samples import Sample
from fracture.errors import ConfigError
from fracture.evaluation.evaluate import EvaluationSettings, evaluate
from fracture.evaluation.predictions import Predictions
from fracture.evaluation.studies import study_probabilities


def test_study_metrics_match_sklearn_on_mean_aggregated_probabilities():
    rng = np.random.default_rng(3)
    studies = [f"s{i // 3}" for i in range(60)] + [f"t{i}" for i in range(15)]
    study_label = {s: int(rng.random() < 0.4) for s in set(studies)}
    labels = [study_label[s] for s in studies]
    probabilities = np.clip(np.array(labels) * 0.3 + rng.random(len(labels)) * 0.7, 0.01, 0.99)
    logits = np.stack([np.zeros(len(labels)), np.log(probabilities / (1 - probabilities))], axis=1)
    samples = [
        Sample(Path(f"{i}.png"), y, study=s)
        for i, (y, s) in enumerate(zip(labels, studies, strict=True))
    ]
    result = evaluate(
        Predictions(samples, logits),
        None,
        EvaluationSettings(policy="stored", resamples=0),
        (0.5, 1.0),
    )

    names = sorted(set(studies))
    means = np.array(
        [probabilities[[i for i, s in enumerate(studies) if s == n]].mean() for n in names]
    )
    truth = np.array([study_label[n] for n in names])
    metrics = result.metrics
    assert metrics["test_study/count"] == 35
    assert metrics["test_study/acc"] == pytest.approx(accuracy_score(truth, means >= 0.5))
    assert metrics["test_study/f1"] == pytest.approx(f1_score(truth, means >= 0.5))
    assert metrics["test_study/auroc"] == pytest.approx(roc_auc_score(truth, means), abs=1e-9)


def test_a_study_with_two_labels_is_refused():
    with pytest.raises(ValueError, match="different labels"):
        study_probabilities(np.array([0.2, 0.9]), [0, 1], ["s", "s"])


def test_conflicting_study_labels_skip_study_metrics_instead_of_failing_the_run():
    samples = [Sample(Path(f"{i}.png"), i % 2, study="s") for i in range(4)]
    logits = np.zeros((4, 2))
    settings = EvaluationSettings(policy="stored", resamples=0)
    metrics = evaluate(Predictions(samples, logits), None, settings, (0.5, 1.0)).metrics
    assert "test/acc" in metrics and not any(k.startswith("test_study/") for k in metrics)


def test_refitting_the_temperature_under_the_stored_threshold_is_refused():
    samples = [Sample(Path(f"{i}.png"), i % 2) for i in range(4)]
    predictions = Predictions(samples, np.zeros((4, 2)))
    settings = EvaluationSettings(policy="stored", temperature_scaling=True, resamples=0)
    with pytest.raises(ConfigError, match="threshold must be chosen again"):
        evaluate(predictions, predictions, settings, (0.5, 1.0))
