"""Binary-classification statistics on P(fractured), computed for many weightings at once.

A weighting is a row of non-negative sample weights; a bootstrap resample is a row of counts.
Every statistic is evaluated for all B rows together, so confidence intervals need no Python
loop over resamples. Positive means *fractured* (label 1); predicted positive means
``p >= threshold``.

Undefined values:

* precision, recall, F1, specificity and NPV are 0.0 when their denominator is zero
  (scikit-learn's ``zero_division=0``).
* balanced accuracy is the mean recall over the classes present in the row, as scikit-learn
  computes it; NaN when the row has no weight at all.
* AUROC and AUPRC are NaN when a row lacks either class (scikit-learn raises or warns; its
  average precision would be 1.0 for positives only, which says nothing about ranking).
* kappa is NaN when the chance disagreement is zero (labels and predictions both constant and
  the same class), as scikit-learn returns.
* accuracy, Brier score and ECE are NaN for a row whose weights are all zero.

ECE measures the calibration of P(fractured) itself, binned on [0, 1]; it is not the
"max-class confidence" ECE of multi-class papers.
"""

import numpy as np
import torch

# Metrics of the decisions at the threshold, and of the probabilities themselves.
DECISION_METRICS = (
    "acc",
    "balanced_acc",
    "f1",
    "precision",
    "recall",
    "specificity",
    "npv",
    "kappa",
)
SCORE_METRICS = ("auroc", "auprc", "brier", "ece")
METRIC_NAMES = DECISION_METRICS + SCORE_METRICS
ECE_BINS = 10
# Elements per (rows, N) float64 temporary of the ranking metrics: 32 MiB each, and fewer than
# ten live at once, so even 1000 x 10,000 weights stay well under 1 GB.
_BLOCK_ELEMENTS = 2**22


def binary_metrics(probabilities, labels, threshold: float, weights=None) -> dict[str, np.ndarray]:
    """All of ``METRIC_NAMES`` for each weighting of the sample.

    Args:
        probabilities: (N,) P(fractured), in [0, 1].
        labels: (N,) 0/1 labels, 1 = fractured.
        threshold: Predict fractured when ``p >= threshold``.
        weights: None for one unweighted evaluation, or (B, N) non-negative weights or counts,
            one evaluation per row.

    Returns:
        Each metric name mapped to a (B,) float64 array.
    """
    p, y, w = _inputs(probabilities, labels, weights)
    metrics = _threshold_metrics(_confusion(p, y, w, threshold))
    metrics.update(_ranking_metrics(p, y, w))
    metrics.update(_probability_metrics(p, y, w))
    return {name: metrics[name] for name in METRIC_NAMES}


def confusion_counts(probabilities, labels, threshold, weights=None) -> np.ndarray:
    """Weighted confusion matrices, (B, 2, 2) as ``[[tn, fp], [fn, tp]]``.

    Rows are the true class, columns the predicted class; arguments as in `binary_metrics`.
    """
    p, y, w = _inputs(probabilities, labels, weights)
    return _confusion(p, y, w, threshold)


def calibration_bins(probabilities, bins: int = ECE_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Equal-width bins on [0, 1], the last one closed, shared by ECE and reliability diagrams.

    Returns:
        The ``bins + 1`` edges and each probability's bin index.
    """
    # i / bins is the correctly rounded edge, so p = 0.3 falls in [0.3, 0.4) as a reader expects
    # (linspace would put the edge at 0.30000000000000004).
    edges = np.arange(bins + 1) / bins
    index = np.searchsorted(edges, as_array(probabilities), side="right") - 1
    return edges, np.clip(index, 0, bins - 1)


def as_array(values) -> np.ndarray:
    """``values`` (numpy array, torch tensor on any device, or sequence) as float64 numpy."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu()
    return np.asarray(values, dtype=np.float64)


def _inputs(probabilities, labels, weights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p, y = as_array(probabilities), as_array(labels)
    if p.ndim != 1 or p.shape != y.shape:
        raise ValueError(f"probabilities {p.shape} and labels {y.shape} must be equal-length 1-D")
    if not np.all((p >= 0) & (p <= 1)):
        raise ValueError("probabilities must lie in [0, 1] (and not be NaN)")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 (not fractured) or 1 (fractured)")
    return p, y, _weights(weights, len(p))


def _weights(weights, n: int) -> np.ndarray:
    if weights is None:
        return np.ones((1, n))
    w = as_array(weights)
    if w.ndim != 2 or w.shape[1] != n:
        raise ValueError(f"weights must have shape (B, {n}), got {w.shape}")
    if not np.all(w >= 0) or not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite and non-negative")
    return w


def _confusion(p, y, w, threshold) -> np.ndarray:
    predicted = p >= threshold
    negative, positive = y == 0, y == 1
    cells = [
        negative & ~predicted,
        negative & predicted,
        positive & ~predicted,
        positive & predicted,
    ]
    # One (B, N) @ (N, 4) product gives all four weighted counts of every row.
    return (w @ np.stack(cells, axis=1).astype(np.float64)).reshape(-1, 2, 2)


def _ratio(numerator, denominator, undefined: float = 0.0) -> np.ndarray:
    out = np.full(np.shape(numerator), undefined, dtype=np.float64)
    return np.divide(numerator, denominator, out=out, where=denominator > 0)


def _threshold_metrics(counts: np.ndarray) -> dict[str, np.ndarray]:
    tn, fp, fn, tp = counts[:, 0, 0], counts[:, 0, 1], counts[:, 1, 0], counts[:, 1, 1]
    recall, specificity = _ratio(tp, tp + fn), _ratio(tn, tn + fp)
    return {
        "acc": _ratio(tp + tn, counts.sum(axis=(1, 2)), np.nan),
        "balanced_acc": _balanced_accuracy(recall, specificity, tp + fn > 0, tn + fp > 0),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "precision": _ratio(tp, tp + fp),
        "recall": recall,
        "specificity": specificity,
        "npv": _ratio(tn, tn + fn),
        "kappa": _kappa(tn, fp, fn, tp),
    }


def _balanced_accuracy(recall, specificity, has_positive, has_negative) -> np.ndarray:
    # scikit-learn averages the recall of the classes present, ignoring an absent class.
    present = has_positive.astype(np.float64) + has_negative
    return _ratio(recall * has_positive + specificity * has_negative, present, np.nan)


def _kappa(tn, fp, fn, tp) -> np.ndarray:
    # kappa = 1 - observed / chance disagreement, both scaled by n^2 to stay in counts.
    n = tn + fp + fn + tp
    chance = (tp + fn) * (tn + fn) + (tn + fp) * (tp + fp)
    return 1 - _ratio((fp + fn) * n, chance, np.nan)


def _ranking_metrics(p, y, w) -> dict[str, np.ndarray]:
    order = np.argsort(-p, kind="stable")
    # Tied scores form one threshold: group starts in descending score order.
    starts = np.flatnonzero(np.r_[True, np.diff(p[order]) != 0])
    positive = y[order]
    auroc, auprc = np.empty(len(w)), np.empty(len(w))
    for rows in _blocks(w.shape):
        weights = np.take(w[rows], order, axis=1)
        pos = np.add.reduceat(weights * positive, starts, axis=1)
        neg = np.add.reduceat(weights * (1 - positive), starts, axis=1)
        auroc[rows], auprc[rows] = _auroc(pos, neg), _auprc(pos, neg)
    return {"auroc": auroc, "auprc": auprc}


def _blocks(shape: tuple[int, int]):
    rows = max(1, _BLOCK_ELEMENTS // max(shape[1], 1))
    for start in range(0, shape[0], rows):
        yield slice(start, start + rows)


def _auroc(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    # Mann-Whitney on (B, G) weights per threshold group, thresholds descending.
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    # Negative weight strictly below each threshold group, plus half of the tied group.
    below = n_neg[:, None] - np.cumsum(neg, axis=1) + 0.5 * neg
    return _ratio((pos * below).sum(axis=1), n_pos * n_neg, np.nan)


def _auprc(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    # Average precision: sum over thresholds of (recall step) * precision; a threshold whose
    # group holds no positive weight adds nothing, so zero-weight samples drop out as in sklearn.
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    precision = _ratio(tp, tp + fp)
    n_pos, n_neg = tp[:, -1], fp[:, -1]
    both = (n_pos > 0) & (n_neg > 0)
    return _ratio((pos * precision).sum(axis=1), np.where(both, n_pos, 0.0), np.nan)


def _probability_metrics(p, y, w) -> dict[str, np.ndarray]:
    total = w.sum(axis=1)
    _, index = calibration_bins(p, ECE_BINS)
    in_bin = index[:, None] == np.arange(ECE_BINS)
    # Per bin, weight * |mean p - fraction positive| = |sum of weighted (p - y)|.
    gaps = w @ (in_bin * (p - y)[:, None])
    return {
        "brier": _ratio(w @ (p - y) ** 2, total, np.nan),
        "ece": _ratio(np.abs(gaps).sum(axis=1), total, np.nan),
    }
