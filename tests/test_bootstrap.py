"""Bootstrap confidence intervals from per-sample weights."""

import math

import numpy as np
import pytest

from fracture.evaluation.bootstrap import bootstrap_ci, bootstrap_weights


def weighted_accuracy(correct: np.ndarray):
    """Statistic: fraction of the weighted samples that were classified correctly."""
    return lambda weights: {"acc": weights @ correct / weights.sum(axis=1)}


def weighted_auroc(scores: np.ndarray, labels: np.ndarray):
    """Statistic: weighted Mann-Whitney AUROC, every positive against every negative.

    AUROC = sum_ij w_i w_j [s_i > s_j] (+1/2 on ties) / (sum_i w_i * sum_j w_j), i positive,
    j negative; NaN when a resample holds a single class.
    """
    positive, negative = scores[labels == 1], scores[labels == 0]
    wins = (positive[:, None] > negative[None, :]) + 0.5 * (positive[:, None] == negative[None, :])

    def statistic(weights):
        w_pos, w_neg = weights[:, labels == 1], weights[:, labels == 0]
        pairs = w_pos.sum(axis=1) * w_neg.sum(axis=1)
        won = ((w_pos @ wins) * w_neg).sum(axis=1)
        return {"auroc": np.where(pairs > 0, won / np.maximum(pairs, 1), np.nan)}

    return statistic


def binormal_sample(rng, d: float, n: int):
    """n/2 negatives ~ N(0, 1) and n/2 positives ~ N(d, 1): the AUROC is Phi(d / sqrt(2))."""
    labels = np.repeat([0, 1], n // 2)
    return rng.normal(size=n) + d * labels, labels


def test_weights_are_counts_of_n_draws_with_replacement():
    weights = bootstrap_weights(50, 400, np.random.default_rng(0))
    assert weights.shape == (400, 50)
    assert np.issubdtype(weights.dtype, np.integer)
    assert (weights.sum(axis=1) == 50).all()
    # Each count ~ Binomial(50, 1/50): mean 1, variance 49/50; ~37 % of samples left out.
    assert weights.mean() == pytest.approx(1.0)
    assert weights.var() == pytest.approx(0.98, rel=0.05)
    assert (weights == 0).mean() == pytest.approx((49 / 50) ** 50, abs=0.01)


def test_groups_move_together_with_equal_counts():
    groups = ["p1", "p1", "p1", ("p", 2), 7, 7, "p3", "p1", 7, "p4"]
    weights = bootstrap_weights(len(groups), 500, np.random.default_rng(1), groups)
    sizes = {group: groups.count(group) for group in groups}
    for group in sizes:
        members = weights[:, [i for i, g in enumerate(groups) if g == group]]
        assert (members == members[:, :1]).all()
    # The G = 5 groups are drawn G times: one member's count per group sums to G.
    firsts = [groups.index(group) for group in sizes]
    assert (weights[:, firsts].sum(axis=1) == 5).all()
    assert (weights.sum(axis=1) != len(groups)).any()  # whole groups, not single images
    with pytest.raises(ValueError, match="groups"):
        bootstrap_weights(3, 2, np.random.default_rng(0), groups)


def test_same_seed_same_intervals_and_another_seed_differs():
    rng = np.random.default_rng(2)
    scores, labels = binormal_sample(rng, 1.0, 80)
    statistic = weighted_auroc(scores, labels)
    first = bootstrap_ci(statistic, 80, resamples=200, seed=5)
    assert first == bootstrap_ci(statistic, 80, resamples=200, seed=5)
    assert first != bootstrap_ci(statistic, 80, resamples=200, seed=6)


@pytest.mark.parametrize("groups", [None, [i // 3 for i in range(60)]])
def test_block_size_does_not_change_the_result(groups):
    correct = np.random.default_rng(3).random(60) < 0.7
    results = [
        bootstrap_ci(weighted_accuracy(correct), 60, resamples=250, seed=4, groups=groups, block=b)
        for b in (1, 7, 100, 250, 1000)
    ]
    assert all(result == results[0] for result in results)


def test_interval_is_the_percentile_interval_of_the_seeded_resamples():
    correct = np.random.default_rng(5).random(40) < 0.6
    result = bootstrap_ci(weighted_accuracy(correct), 40, resamples=300, seed=9, level=0.9)["acc"]
    # Resample i is the i-th draw of default_rng(seed), as the module documents.
    weights = bootstrap_weights(40, 300, np.random.default_rng(9))
    values = weights @ correct / 40
    assert result["value"] == pytest.approx(correct.mean())
    assert result["low"] == pytest.approx(np.quantile(values, 0.05))
    assert result["high"] == pytest.approx(np.quantile(values, 0.95))
    assert result["resamples"] == 300


def test_resamples_with_an_undefined_value_are_dropped_and_counted():
    scores, labels = np.arange(6.0), np.array([0, 0, 0, 0, 0, 1])
    result = bootstrap_ci(weighted_auroc(scores, labels), 6, resamples=400, seed=0)["auroc"]
    weights = bootstrap_weights(6, 400, np.random.default_rng(0))
    # Only resamples that drew the single positive have an AUROC; it is then 1.
    assert result["resamples"] == (weights[:, 5] > 0).sum() < 400
    assert result["value"] == result["low"] == result["high"] == 1.0


def test_all_undefined_gives_nan_bounds():
    result = bootstrap_ci(lambda w: {"x": np.full(len(w), np.nan)}, 5, resamples=20)["x"]
    assert math.isnan(result["low"]) and math.isnan(result["high"])
    assert result["resamples"] == 0


@pytest.mark.parametrize(
    "kwargs", [{"level": 1.0}, {"level": 0.0}, {"resamples": 0}, {"block": 0}, {"n": 0}]
)
def test_bad_arguments_are_refused(kwargs):
    arguments = {"n": 10} | kwargs
    with pytest.raises(ValueError):
        bootstrap_ci(weighted_accuracy(np.ones(10, bool)), **arguments)


def test_95_percent_interval_covers_a_known_auroc():
    d, n, experiments = 1.0, 200, 200
    truth = 0.5 * math.erfc(-d / 2)  # Phi(d / sqrt(2)) = 0.7602
    covered = covered_if_halved = covered_if_doubled = 0
    for experiment in range(experiments):
        scores, labels = binormal_sample(np.random.default_rng(1000 + experiment), d, n)
        ci = bootstrap_ci(weighted_auroc(scores, labels), n, resamples=300, seed=experiment)
        ci = ci["auroc"]
        covered += ci["low"] <= truth <= ci["high"]
        # Broken intervals, half or twice as wide about the same centre, must fail the bounds.
        centre, half = (ci["low"] + ci["high"]) / 2, (ci["high"] - ci["low"]) / 2
        covered_if_halved += abs(truth - centre) <= half / 2
        covered_if_doubled += abs(truth - centre) <= half * 2
    assert 0.88 <= covered / experiments <= 0.99  # measured: 0.945
    assert covered_if_halved / experiments < 0.88  # measured: 0.65
    assert covered_if_doubled / experiments > 0.99  # measured: 1.0
