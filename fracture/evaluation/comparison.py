"""Comparing experiments on the same test images: pooled intervals and paired tests.

Each finished run of a sweep leaves a ``predictions.csv``. An experiment's runs (seeds) are
pooled: every run's rows count, and the bootstrap resamples images (or patients, when the
data has groups), so one image's rows across seeds move together.

For the paired comparison of two experiments, each image gets one probability per
experiment (the mean over its runs) and one verdict (right when most of its runs were right;
a tie counts as wrong). With one run per experiment this is exactly that run's output.
"""

from dataclasses import dataclass

import numpy as np

from fracture.evaluation.bootstrap import bootstrap_ci
from fracture.evaluation.metrics import DECISION_METRICS, SCORE_METRICS, binary_metrics
from fracture.evaluation.paired import delong, mcnemar, paired_bootstrap
from fracture.evaluation.units import resampling_units


@dataclass
class Pooled:
    """Rows of all runs of one experiment: ``keys`` are the rows' resampling units, of
    level ``unit``."""

    paths: list[str]
    keys: list[str]
    labels: np.ndarray
    probabilities: np.ndarray
    decisions: np.ndarray
    unit: str = "image"


def pool(run_predictions: list[dict]) -> Pooled:
    """Concatenate the ``read_predictions`` columns of several runs."""
    paths = [p for run in run_predictions for p in run["path"]]
    keys, unit = resampling_units(
        [g for run in run_predictions for g in run["group"]],
        [s for run in run_predictions for s in run["study"]],
        paths,
    )
    return Pooled(
        paths,
        keys,
        np.concatenate([run["label"] for run in run_predictions]),
        np.concatenate([run["probability"] for run in run_predictions]),
        np.concatenate([run["prediction"] for run in run_predictions]),
        unit,
    )


def _statistic(labels: np.ndarray, probabilities: np.ndarray, decisions: np.ndarray):
    """Weights → metrics: decision metrics from each run's 0/1 decisions (at its own stored
    threshold), the rest from the probabilities."""

    def statistic(weights):
        by_decision = binary_metrics(decisions.astype(float), labels, 0.5, weights)
        by_score = binary_metrics(probabilities, labels, 0.5, weights)
        return {
            **{m: by_decision[m] for m in DECISION_METRICS},
            **{m: by_score[m] for m in SCORE_METRICS},
        }

    return statistic


def pooled_intervals(
    pooled: Pooled, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> dict:
    """``{metric: {"value", "low", "high", "resamples"}}`` over the pooled rows."""
    statistic = _statistic(pooled.labels, pooled.probabilities, pooled.decisions)
    return bootstrap_ci(statistic, len(pooled.labels), resamples, seed, pooled.keys, level)


@dataclass
class PerImage:
    """One experiment's verdict on each image: mean probability, majority correctness."""

    labels: np.ndarray
    probabilities: np.ndarray
    correct: np.ndarray
    keys: list[str]


def per_image(pooled: Pooled, paths: list[str]) -> PerImage:
    """Average an experiment's runs per image, for the images ``paths`` (in that order)."""
    index = {path: i for i, path in enumerate(paths)}
    rows = np.array([index.get(p, -1) for p in pooled.paths])
    keep = rows >= 0
    counts = np.bincount(rows[keep], minlength=len(paths))
    mean = np.bincount(rows[keep], pooled.probabilities[keep], len(paths)) / counts
    right = np.bincount(rows[keep], (pooled.decisions == pooled.labels)[keep], len(paths)) / counts
    labels = np.zeros(len(paths), dtype=np.int64)
    labels[rows[keep]] = pooled.labels[keep]
    keys = [""] * len(paths)
    for row, key in zip(rows[keep], np.array(pooled.keys)[keep], strict=True):
        keys[row] = key
    return PerImage(labels, mean, right > 0.5, keys)


def paired_comparison(
    a: Pooled, b: Pooled, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> dict:
    """B against A on the images both were tested on.

    Returns:
        ``{"images", "mcnemar", "bootstrap": {metric: ...}, "delong"}``; differences are B - A;
        ``None`` when they share fewer than two images (nothing to pair).
    """
    paths = sorted(set(a.paths) & set(b.paths))
    if len(paths) < 2:
        return None
    image_a, image_b = per_image(a, paths), per_image(b, paths)
    if not np.array_equal(image_a.labels, image_b.labels):
        raise ValueError("the two experiments disagree on the labels of shared images")
    statistic_a = _verdict_statistic(image_a)
    statistic_b = _verdict_statistic(image_b)
    return {
        "images": len(paths),
        "mcnemar": mcnemar(image_a.correct, image_b.correct),
        "bootstrap": paired_bootstrap(
            statistic_a, statistic_b, len(paths), resamples, seed, image_a.keys, level
        ),
        "delong": delong(image_a.probabilities, image_b.probabilities, image_a.labels),
    }


def _verdict_statistic(image: PerImage):
    # A right verdict on a positive image is a positive decision, and so on.
    decisions = np.where(image.correct, image.labels, 1 - image.labels)
    return _statistic(image.labels, image.probabilities, decisions)
