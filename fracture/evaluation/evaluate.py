"""One evaluation of a model on a split: operating threshold, calibration, metrics and CIs.

Training's test stage and ``fracture-eval`` both call :func:`evaluate`, so a checkpoint
gives the same numbers whichever way it is evaluated.
"""

import logging
from dataclasses import dataclass, field

import numpy as np
import torch.nn.functional as F
from torch import from_numpy

from fracture.errors import ConfigError
from fracture.evaluation.bootstrap import bootstrap_ci
from fracture.evaluation.calibration import fit_temperature
from fracture.evaluation.metrics import binary_metrics, confusion_counts
from fracture.evaluation.predictions import Predictions
from fracture.evaluation.studies import study_probabilities
from fracture.evaluation.thresholds import choose_threshold

log = logging.getLogger(__name__)

STORED = "stored"  # keep the threshold (and temperature) the checkpoint carries


@dataclass(frozen=True)
class EvaluationSettings:
    """How the operating point is chosen and how uncertainty is reported.

    Args:
        policy: ``stored`` (the checkpoint's threshold), ``fixed``, ``youden`` or
            ``sensitivity``; all but ``stored`` are chosen on the validation split.
        fixed: The threshold of the ``fixed`` policy.
        target_sensitivity: The sensitivity the ``sensitivity`` policy must reach.
        temperature_scaling: Fit a temperature on the validation logits.
        resamples: Bootstrap resamples for the confidence intervals (0: none).
        seed: Seed of the bootstrap.
        level: Confidence level of the intervals.
    """

    policy: str = "fixed"
    fixed: float = 0.5
    target_sensitivity: float = 0.95
    temperature_scaling: bool = False
    resamples: int = 1000
    seed: int = 0
    level: float = 0.95


def settings_from_config(cfg) -> EvaluationSettings:
    """Settings from the ``evaluation`` config group (``conf/evaluation/default.yaml``)."""
    return EvaluationSettings(
        policy=cfg.threshold.policy,
        fixed=cfg.threshold.fixed,
        target_sensitivity=cfg.threshold.target_sensitivity,
        temperature_scaling=cfg.temperature_scaling,
        resamples=cfg.bootstrap.resamples,
        seed=cfg.bootstrap.seed,
        level=cfg.bootstrap.level,
    )


@dataclass
class Evaluation:
    """The result: ``metrics`` are flat ``<split>/<name>`` values, ready for metrics.json."""

    split: str
    predictions: Predictions
    probabilities: np.ndarray
    threshold: float
    temperature: float
    metrics: dict = field(default_factory=dict)


def evaluate(
    predictions: Predictions,
    validation: Predictions | None,
    settings: EvaluationSettings,
    stored: tuple[float, float] = (0.5, 1.0),
    split: str = "test",
) -> Evaluation:
    """Choose threshold and temperature on ``validation``, then score ``predictions``.

    Args:
        predictions: The evaluated split.
        validation: The validation split (needed unless ``policy`` is ``stored`` and there
            is no temperature scaling).
        settings: Policy, calibration and bootstrap settings.
        stored: The checkpoint's (threshold, temperature).
        split: Name used in the metric keys.
    """
    if settings.temperature_scaling and settings.policy == STORED:
        # The stored threshold was chosen at the stored temperature; refitting one without
        # re-choosing the other would report a decision rule nothing else uses.
        raise ConfigError(
            "evaluation.temperature_scaling=true re-calibrates, so the threshold must be chosen "
            "again: set evaluation.threshold.policy to fixed, youden or sensitivity"
        )
    temperature = _temperature(validation, settings, stored[1])
    threshold = _threshold(validation, settings, stored[0], temperature)
    probabilities = predictions.probabilities(temperature)
    result = Evaluation(split, predictions, probabilities, threshold, temperature)
    result.metrics = {
        **_scores(predictions, probabilities, threshold, settings, split),
        f"{split}/loss": _loss(predictions, temperature),
        "threshold": {"value": threshold, "policy": settings.policy, **_policy_facts(settings)},
        "temperature": _calibration_facts(predictions, temperature, settings, split),
    }
    return result


def validation_metrics(validation: Predictions, evaluation: Evaluation) -> dict:
    """``val/<name>`` of the evaluated model at its chosen threshold and temperature, without
    intervals: what a hyperparameter search may optimise (threshold-free ones such as
    ``val/auroc`` are unbiased; the threshold was chosen on these very images)."""
    probabilities = validation.probabilities(evaluation.temperature)
    metrics = binary_metrics(probabilities, validation.labels, evaluation.threshold)
    values = {f"val/{name}": _plain(value[0]) for name, value in metrics.items()}
    return {**values, "val/loss": _loss(validation, evaluation.temperature)}


def _temperature(
    validation: Predictions | None, settings: EvaluationSettings, stored: float
) -> float:
    # Without refitting, keep the checkpoint's calibration: its threshold was chosen on it.
    if not settings.temperature_scaling:
        return stored
    return fit_temperature(_required(validation).logits, validation.labels)


def _threshold(
    validation, settings: EvaluationSettings, stored: float, temperature: float
) -> float:
    if settings.policy == STORED:
        return stored
    probabilities = _required(validation).probabilities(temperature)
    return choose_threshold(
        probabilities,
        validation.labels,
        settings.policy,
        settings.fixed,
        settings.target_sensitivity,
    )


def _required(validation: Predictions | None) -> Predictions:
    if validation is None:
        raise ValueError("choosing a threshold or a temperature needs the validation split")
    return validation


def _policy_facts(settings: EvaluationSettings) -> dict:
    if settings.policy == "sensitivity":
        return {"target_sensitivity": settings.target_sensitivity, "chosen_on": "val"}
    return {"chosen_on": "val"} if settings.policy != STORED else {"chosen_on": "checkpoint"}


def _scores(predictions, probabilities, threshold, settings, split) -> dict:
    labels = predictions.labels
    units, level = predictions.units
    scores = _with_intervals(probabilities, labels, threshold, settings, split, units)
    scores[f"{split}/ci_unit"] = level
    counts = confusion_counts(probabilities, labels, threshold)[0]
    scores[f"{split}/confusion_matrix"] = counts.astype(int).tolist()
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    scores[f"{split}/confusion_matrix_normalized"] = np.round(rates, 4).tolist()
    studies = [s.study for s in predictions.samples]
    if studies and all(studies):
        try:
            means, study_labels, _ = study_probabilities(probabilities, labels.tolist(), studies)
        except ValueError as error:  # image-level labels that differ within a study
            log.warning("no study-level metrics: %s", error)
            return scores
        scores.update(_with_intervals(means, study_labels, threshold, settings, f"{split}_study"))
        scores[f"{split}_study/count"] = len(means)
    return scores


def _with_intervals(probabilities, labels, threshold, settings, prefix, groups=None) -> dict:
    """``prefix/name`` values and, with resamples, ``prefix/name_ci`` = [low, high]."""

    def statistic(weights):
        return binary_metrics(probabilities, labels, threshold, weights)

    values = {f"{prefix}/{k}": _plain(v[0]) for k, v in statistic(None).items()}
    if settings.resamples and len(labels):
        intervals = bootstrap_ci(
            statistic, len(labels), settings.resamples, settings.seed, groups, settings.level
        )
        values.update(
            {
                f"{prefix}/{k}_ci": [_plain(c["low"]), _plain(c["high"])]
                for k, c in intervals.items()
            }
        )
    return values


def _plain(value) -> float | None:
    """JSON-ready: NaN (undefined, e.g. AUROC of one class) becomes null."""
    value = float(value)
    return None if np.isnan(value) else value


def _loss(predictions: Predictions, temperature: float) -> float:
    logits = from_numpy(predictions.logits / temperature)
    return (
        float(F.cross_entropy(logits, from_numpy(predictions.labels)))
        if len(logits)
        else float("nan")
    )


def _calibration_facts(
    predictions, temperature: float, settings: EvaluationSettings, split: str
) -> dict:
    """The temperature and, when it was fitted, Brier, ECE and NLL before and after."""
    facts = {"value": temperature, "fitted": settings.temperature_scaling}
    if settings.temperature_scaling:
        facts["before"] = _calibration(predictions, 1.0, split)
        facts["after"] = _calibration(predictions, temperature, split)
    return facts


def _calibration(predictions: Predictions, temperature: float, split: str) -> dict:
    metrics = binary_metrics(predictions.probabilities(temperature), predictions.labels, 0.5)
    return {
        f"{split}/brier": float(metrics["brier"][0]),
        f"{split}/ece": float(metrics["ece"][0]),
        f"{split}/nll": _loss(predictions, temperature),
    }
