"""One resampling unit rule for fracture-eval and fracture-compare: patient, else study,
else image; partial coverage is a warning naming how many files have no id."""

import logging
from pathlib import Path

import numpy as np
import pytest

from fracture.data.samples import Sample
from fracture.evaluation.comparison import pool, pooled_intervals
from fracture.evaluation.evaluate import EvaluationSettings, evaluate
from fracture.evaluation.predictions import Predictions, read_predictions, write_predictions
from fracture.evaluation.units import resampling_units


def split_with(n: int, group=None, study=None, seed: int = 0) -> Predictions:
    """``n`` images, four per study/patient id, with noisy logits."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    samples = [
        Sample(
            Path(f"/x/{i}.png"),
            int(labels[i]),
            group=group(i) if group else None,
            study=study(i) if study else None,
        )
        for i in range(n)
    ]
    logits = np.stack([np.zeros(n), labels + rng.normal(0, 1.0, n)], axis=1)
    return Predictions(samples, logits)


@pytest.mark.parametrize(
    ("groups", "studies", "level", "first"),
    [
        (["p1", "p1"], ["s1", "s2"], "patient", "patient:p1"),
        ([None, None], ["s1", "s1"], "study", "study:s1"),
        ([None, None], [None, None], "image", "image:a"),
    ],
)
def test_patient_else_study_else_image(groups, studies, level, first):
    keys, found = resampling_units(groups, studies, ["a", "b"])
    assert found == level and keys[0] == first


def test_partial_coverage_is_a_warning_naming_the_count(caplog):
    with caplog.at_level(logging.WARNING, logger="fracture.evaluation.units"):
        keys, level = resampling_units(
            ["p1", None, "p1", None], ["s1", "s2", None, None], list("abcd")
        )
    assert level == "patient"
    assert keys == ["patient:p1", "study:s2", "patient:p1", "image:d"]
    assert len(caplog.records) == 1 and "2 of 4 files have no patient id" in caplog.text


def test_eval_warns_about_a_group_pattern_missing_files(caplog):
    predictions = split_with(40, group=lambda i: f"p{i // 4}" if i < 30 else None)
    settings = EvaluationSettings(policy="stored", resamples=50)
    with caplog.at_level(logging.WARNING, logger="fracture.evaluation.units"):
        metrics = evaluate(predictions, None, settings, (0.5, 1.0)).metrics
    assert "10 of 40 files have no patient id" in caplog.text
    assert metrics["test/ci_unit"] == "patient"


def test_eval_and_compare_resample_the_same_units(tmp_path):
    # Studies only: fracture-eval resampled studies, fracture-compare images before.
    predictions = split_with(80, study=lambda i: f"s{i // 4}", seed=1)
    settings = EvaluationSettings(policy="stored", resamples=300, seed=5)
    evaluation = evaluate(predictions, None, settings, (0.5, 1.0))
    write_predictions(tmp_path / "p.csv", predictions, evaluation.probabilities, 0.5)
    pooled = pool([read_predictions(tmp_path / "p.csv")])
    intervals = pooled_intervals(pooled, resamples=300, seed=5)
    assert intervals["auroc"]["low"] == pytest.approx(
        evaluation.metrics["test/auroc_ci"][0], abs=1e-4
    )
    assert intervals["auroc"]["high"] == pytest.approx(
        evaluation.metrics["test/auroc_ci"][1], abs=1e-4
    )
    assert pooled.unit == evaluation.metrics["test/ci_unit"] == "study"
