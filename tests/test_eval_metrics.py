"""Vectorised binary metrics against scikit-learn, unweighted, with counts and with weights."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from fracture.evaluation import metrics as metrics_module
from fracture.evaluation.metrics import METRIC_NAMES, binary_metrics, confusion_counts

THRESHOLD = 0.5


def _sample(ties: bool, n: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.35).astype(int)
    probabilities = np.clip(0.35 * labels + 0.65 * rng.random(n), 0, 1)
    # Rounding to one decimal gives heavy ties, scores exactly on the ECE bin edges and on the
    # threshold 0.5, 0.0 and 1.0.
    return (np.round(probabilities, 1) if ties else probabilities), labels


def _ece_loop(probabilities, labels, sample_weight=None, bins: int = 10) -> float:
    weight = np.ones(len(labels)) if sample_weight is None else sample_weight
    total, ece = weight.sum(), 0.0
    for i in range(bins):
        low, high = i / bins, (i + 1) / bins
        members = [
            j
            for j, p in enumerate(probabilities)
            if low <= p < high or (i == bins - 1 and p == 1.0)
        ]
        bin_weight = sum(weight[j] for j in members)
        if bin_weight > 0:
            confidence = sum(weight[j] * probabilities[j] for j in members) / bin_weight
            frequency = sum(weight[j] * labels[j] for j in members) / bin_weight
            ece += bin_weight / total * abs(confidence - frequency)
    return ece


def _reference(probabilities, labels, sample_weight=None) -> dict[str, float]:
    predicted = (probabilities >= THRESHOLD).astype(int)
    kw = {"sample_weight": sample_weight}
    (tn, fp), (fn, _) = confusion_matrix(labels, predicted, labels=[0, 1], **kw)
    return {
        "acc": accuracy_score(labels, predicted, **kw),
        "balanced_acc": balanced_accuracy_score(labels, predicted, **kw),
        "f1": f1_score(labels, predicted, zero_division=0, **kw),
        "precision": precision_score(labels, predicted, zero_division=0, **kw),
        "recall": recall_score(labels, predicted, zero_division=0, **kw),
        "specificity": tn / (tn + fp),
        "npv": tn / (tn + fn),
        "auroc": roc_auc_score(labels, probabilities, **kw),
        "auprc": average_precision_score(labels, probabilities, **kw),
        "kappa": cohen_kappa_score(labels, predicted, **kw),
        "brier": brier_score_loss(labels, probabilities, **kw),
        "ece": _ece_loop(probabilities, labels, sample_weight),
    }


def _assert_row(got: dict, row: int, expected: dict) -> None:
    assert set(expected) == set(METRIC_NAMES)
    for name in METRIC_NAMES:
        assert got[name][row] == pytest.approx(expected[name], abs=1e-10), name


@pytest.mark.parametrize("ties", [False, True], ids=["random", "ties"])
def test_unweighted_metrics_match_sklearn(ties):
    probabilities, labels = _sample(ties)
    got = binary_metrics(probabilities, labels, THRESHOLD)
    assert all(value.shape == (1,) for value in got.values())
    _assert_row(got, 0, _reference(probabilities, labels))


@pytest.mark.parametrize("ties", [False, True], ids=["random", "ties"])
def test_count_weights_match_sklearn_on_the_repeated_sample(ties):
    probabilities, labels = _sample(ties, n=150, seed=1)
    counts = np.random.default_rng(2).integers(0, 4, size=(6, len(labels)))
    got = binary_metrics(probabilities, labels, THRESHOLD, weights=counts)
    assert all(value.shape == (6,) for value in got.values())
    for row, count in enumerate(counts):
        repeated = np.repeat(probabilities, count), np.repeat(labels, count)
        _assert_row(got, row, _reference(*repeated))


def test_fractional_weights_match_sklearn_sample_weight():
    probabilities, labels = _sample(ties=True, n=200, seed=4)
    weights = np.random.default_rng(5).random((3, len(labels)))
    got = binary_metrics(torch.tensor(probabilities), torch.tensor(labels), THRESHOLD, weights)
    for row, weight in enumerate(weights):
        _assert_row(got, row, _reference(probabilities, labels, sample_weight=weight))


def test_blocks_over_rows_give_the_same_answer(monkeypatch):
    probabilities, labels = _sample(ties=True, n=100, seed=6)
    counts = np.random.default_rng(7).integers(0, 3, size=(9, len(labels)))
    whole = binary_metrics(probabilities, labels, THRESHOLD, counts)
    # 250 elements per block = two rows of 100: five blocks, the last one short.
    monkeypatch.setattr(metrics_module, "_BLOCK_ELEMENTS", 250)
    blocked = binary_metrics(probabilities, labels, THRESHOLD, counts)
    for name in METRIC_NAMES:
        np.testing.assert_allclose(blocked[name], whole[name], rtol=0, atol=1e-12, err_msg=name)


def test_hand_computed_small_case():
    probabilities = np.array([0.1, 0.4, 0.35, 0.8, 0.5])
    labels = np.array([0, 0, 1, 1, 0])
    # p >= 0.5 predicts positive: 0.8 (tp) and 0.5 (fp, on the threshold); 0.35 is a fn.
    np.testing.assert_array_equal(confusion_counts(probabilities, labels, 0.5), [[[2, 1], [1, 1]]])
    got = binary_metrics(probabilities, labels, 0.5)
    # Positive/negative pairs: 0.35 beats 0.1 only, 0.8 beats all three -> 4 / 6.
    assert got["auroc"][0] == pytest.approx(4 / 6)
    # Descending: 0.8 (+) precision 1; then 0.5 (-), 0.4 (-), 0.35 (+) precision 2/4.
    # AP = 1/2 * 1 + 1/2 * 1/2 = 0.75.
    assert got["auprc"][0] == pytest.approx(0.75)
    # ECE bins: [0.1] |0.1 - 0|, [0.3] |0.35 - 1|, [0.4] |0.4 - 0|, [0.5] |0.5 - 0|,
    # [0.8] |0.8 - 1|, each of weight 1/5 -> (0.1 + 0.65 + 0.4 + 0.5 + 0.2) / 5.
    assert got["ece"][0] == pytest.approx(1.85 / 5)


def test_tied_positive_and_negative_count_one_half():
    got = binary_metrics([0.5, 0.5, 0.9], [0, 1, 1], 0.5)
    # Pairs: (0.5+, 0.5-) tie = 1/2, (0.9+, 0.5-) win = 1 -> 1.5 / 2.
    assert got["auroc"][0] == pytest.approx(0.75)
    # One threshold group at 0.9 (precision 1), then 0.5 with both (precision 2/3):
    # AP = 1/2 * 1 + 1/2 * 2/3.
    assert got["auprc"][0] == pytest.approx(0.5 + 1 / 3)


def test_undefined_values_follow_the_documented_conventions():
    probabilities = np.array([0.2, 0.3, 0.7, 0.9])
    labels = np.array([0, 0, 1, 1])
    weights = np.array(
        [
            [1, 1, 0, 0],  # negatives only, all predicted negative
            [0, 0, 1, 1],  # positives only, all predicted positive
            [0, 0, 0, 0],  # no weight at all
        ]
    )
    got = binary_metrics(probabilities, labels, 0.5, weights)
    assert np.isnan(got["auroc"]).all() and np.isnan(got["auprc"]).all()
    # Row 0: no positive predictions or labels -> precision, recall, F1 are 0, as sklearn's
    # zero_division=0; specificity 1; kappa undefined (labels and predictions constant, equal).
    for name in ("precision", "recall", "f1"):
        assert got[name][0] == 0.0
    assert got["specificity"][0] == 1.0 and np.isnan(got["kappa"][0])
    # Row 1: no negatives -> specificity and NPV 0; balanced accuracy = recall of the one class.
    assert got["specificity"][1] == 0.0 and got["npv"][1] == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = balanced_accuracy_score([1, 1], [1, 1])
        expected_kappa = cohen_kappa_score([0, 0], [0, 0])
    assert got["balanced_acc"][1] == expected == 1.0
    assert np.isnan(expected_kappa)
    for name in ("acc", "balanced_acc", "kappa", "brier", "ece", "auroc", "auprc"):
        assert np.isnan(got[name][2]), name


@pytest.mark.parametrize(
    ("probabilities", "labels", "weights", "message"),
    [
        ([0.2, 0.8], [0, 1, 1], None, "equal-length"),
        ([0.2, 1.2], [0, 1], None, r"\[0, 1\]"),
        ([0.2, 0.8], [0, 2], None, "labels must be 0"),
        ([0.2, 0.8], [0, 1], [[1, 1, 1]], "shape"),
        ([0.2, 0.8], [0, 1], [[1, -1]], "non-negative"),
    ],
)
def test_bad_inputs_are_refused(probabilities, labels, weights, message):
    with pytest.raises(ValueError, match=message):
        binary_metrics(probabilities, labels, 0.5, weights)
