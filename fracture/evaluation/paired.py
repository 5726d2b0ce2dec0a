"""Paired comparisons of two models scored on the same test images.

Both models see the same images, so their errors are correlated; a paired test uses that
correlation and detects differences that two separate confidence intervals would miss.
"""

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

from fracture.evaluation.bootstrap import (
    Statistic,
    check_level,
    percentile_interval,
    point_statistic,
    resample_statistic,
)


def mcnemar(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> dict:
    """McNemar's test of equal accuracy from per-image correctness of two models.

    Always the exact two-sided binomial test on the discordant pairs: it is cheap in exact
    integers even for thousands of them, and the chi-square approximation it replaces is
    too liberal for few pairs and changes method (and p-value) at an arbitrary count.

    Args:
        correct_a: (N,) whether model A classified each image correctly.
        correct_b: (N,) the same for model B.

    Returns:
        ``{"a_only", "b_only", "statistic", "p_value", "method"}``: images only A (only B) got
        right, the test statistic ``min(a_only, b_only)``, its two-sided p-value and
        ``"exact"``.
    """
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"correct_a has shape {a.shape}, correct_b {b.shape}")
    a_only, b_only = int(np.sum(a & ~b)), int(np.sum(b & ~a))
    counts = {"a_only": a_only, "b_only": b_only}
    smaller = min(a_only, b_only)
    p_value = min(1.0, 2 * _binomial_half_cdf(smaller, a_only + b_only))
    return {**counts, "statistic": float(smaller), "p_value": p_value, "method": "exact"}


def _binomial_half_cdf(k: int, trials: int) -> float:
    """P(X <= k) for X ~ Binomial(trials, 1/2), summed in exact integers.

    Each binomial coefficient from the previous one (milliseconds for thousands of pairs,
    where a fresh ``math.comb`` per term takes a minute); one correctly rounded integer
    division at the end, so a tail below the smallest float is 0.0, not an overflow.
    """
    term = total = 1  # C(trials, 0)
    for i in range(k):
        term = term * (trials - i) // (i + 1)  # C(trials, i + 1), exact
        total += term
    return total / 2**trials


def paired_bootstrap(
    statistic_a: Statistic,
    statistic_b: Statistic,
    n: int,
    resamples: int = 1000,
    seed: int = 0,
    groups: Sequence | None = None,
    level: float = 0.95,
    block: int = 100,
) -> dict[str, dict[str, float]]:
    """Paired bootstrap of the difference ``b - a`` of every metric both statistics return.

    Both models are scored on the same resample weights (see ``fracture.evaluation.bootstrap``
    for resampling, seeding and groups). The interval is the percentile interval of the
    resampled differences. The p-value for "no difference" is the approximation
    ``min(1, 2 * min(mean(diff <= 0), mean(diff >= 0)))`` over resamples with a defined
    difference; it cannot go below about ``2 / resamples``.

    Args:
        statistic_a: Maps (B, n) weights to ``{name: (B,) values}`` for model A.
        statistic_b: The same for model B.
        n: Number of samples.
        resamples: Number of bootstrap resamples.
        seed: Seed of the resampling.
        groups: Optional group id of each sample; groups are resampled whole.
        level: Confidence level of the interval.
        block: Resamples scored per call; bounds memory, not the result.

    Returns:
        ``{name: {"a", "b", "difference", "low", "high", "p_value", "resamples"}}``.
    """
    check_level(level)

    def difference(weights: np.ndarray) -> dict[str, np.ndarray]:
        values_a, values_b = statistic_a(weights), statistic_b(weights)
        return {name: values_b[name] - values_a[name] for name in values_a if name in values_b}

    differences = resample_statistic(difference, n, resamples, seed, groups, block)
    point_a, point_b = point_statistic(statistic_a, n), point_statistic(statistic_b, n)
    return {
        name: {"a": point_a[name], "b": point_b[name], "difference": point_b[name] - point_a[name]}
        | percentile_interval(values, level)
        | {"p_value": _bootstrap_p_value(values)}
        for name, values in differences.items()
    }


def _bootstrap_p_value(differences: np.ndarray) -> float:
    """Two-sided p-value of "no difference": twice the smaller tail mass at zero."""
    valid = differences[~np.isnan(differences)]
    if valid.size == 0:
        return math.nan
    return min(1.0, 2 * float(min(np.mean(valid <= 0), np.mean(valid >= 0))))


def delong(probabilities_a, probabilities_b, labels) -> dict:
    """DeLong et al. (1988) test of equal AUROC of two models on the same images.

    Uses the fast midrank algorithm of Sun & Xu (2014): O(N log N) instead of comparing every
    positive with every negative. Label 1 (fractured) is the positive class; a higher
    probability means more likely positive; ties count one half.

    Args:
        probabilities_a: (N,) scores of model A.
        probabilities_b: (N,) scores of model B.
        labels: (N,) 0/1 labels with at least two images of each class.

    Returns:
        ``{"auroc_a", "auroc_b", "difference", "se", "z", "p_value", "low", "high"}``: the
        difference is ``auroc_b - auroc_a``; ``low``/``high`` bound its 95 % normal interval.
    """
    scores = np.stack([np.asarray(probabilities_a, float), np.asarray(probabilities_b, float)])
    positive = np.asarray(labels) == 1
    if scores.shape[1] != positive.size or positive.sum() < 2 or (~positive).sum() < 2:
        raise ValueError("delong needs matching lengths and at least two images of each class")
    auroc, covariance = _delong_covariance(scores[:, positive], scores[:, ~positive])
    difference = float(auroc[1] - auroc[0])
    # Clipped: rounding can leave a tiny negative variance when the models are identical.
    se = math.sqrt(max(covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1], 0.0))
    z = (
        difference / se
        if se > 0
        else (0.0 if difference == 0 else math.copysign(math.inf, difference))
    )
    half_width = NormalDist().inv_cdf(0.975) * se
    return {
        "auroc_a": float(auroc[0]),
        "auroc_b": float(auroc[1]),
        "difference": difference,
        "se": se,
        "z": z,
        "p_value": math.erfc(abs(z) / math.sqrt(2)),
        "low": difference - half_width,
        "high": difference + half_width,
    }


def _delong_covariance(
    positives: np.ndarray, negatives: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """AUROC of each model (row) and the DeLong covariance matrix of those AUROCs."""
    m, k = positives.shape[1], negatives.shape[1]
    ranks_x, ranks_y = _midranks(positives), _midranks(negatives)
    ranks_z = _midranks(np.concatenate([positives, negatives], axis=1))
    auroc = (ranks_z[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * k)
    # Structural components: each positive's share of negatives ranked below it, and each
    # negative's share of positives ranked above it.
    v10 = (ranks_z[:, :m] - ranks_x) / k
    v01 = 1 - (ranks_z[:, m:] - ranks_y) / m
    return auroc, np.cov(v10) / m + np.cov(v01) / k


def _midranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks within each row of (K, M) values, ties sharing the mean of their ranks."""
    order = np.argsort(values, axis=-1, kind="stable")
    ordered = np.take_along_axis(values, order, axis=-1)
    # Each position's tie run spans ordered positions [first, last); its midrank is their mean.
    new_run = np.ones(ordered.shape, dtype=bool)
    new_run[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    positions = np.broadcast_to(np.arange(ordered.shape[1]), ordered.shape)
    first = np.maximum.accumulate(np.where(new_run, positions, 0), axis=-1)
    last = _run_ends(new_run, positions)
    ranks = np.empty(values.shape)
    np.put_along_axis(ranks, order, (first + last + 1) / 2, axis=-1)
    return ranks


def _run_ends(new_run: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """For each ordered position, the (exclusive) end of its tie run."""
    width = new_run.shape[1]
    ends_here = np.ones(new_run.shape, dtype=bool)
    ends_here[:, :-1] = new_run[:, 1:]
    # Scan from the right: the nearest position at or after this one where a run ends.
    marked = np.where(ends_here, positions, width)[:, ::-1]
    return np.minimum.accumulate(marked, axis=-1)[:, ::-1] + 1
