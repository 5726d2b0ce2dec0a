"""Paired model comparisons: McNemar, paired bootstrap and DeLong's AUROC test."""

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from fracture.evaluation.bootstrap import bootstrap_ci, resample_statistic
from fracture.evaluation.paired import delong, mcnemar, paired_bootstrap
from tests.test_bootstrap import binormal_sample, weighted_auroc


def correctness(both: int, a_only: int, b_only: int, neither: int):
    """Per-image correctness of models A and B with the given concordant/discordant counts."""
    a = [True] * both + [True] * a_only + [False] * b_only + [False] * neither
    b = [True] * both + [False] * a_only + [True] * b_only + [False] * neither
    return np.array(a), np.array(b)


def test_mcnemar_exact_when_one_model_wins_all_ten_discordant_pairs():
    result = mcnemar(*correctness(40, 0, 10, 5))
    assert result == {
        "a_only": 0,
        "b_only": 10,
        "statistic": 0.0,
        "p_value": 0.001953125,  # 2 * 0.5 ** 10
        "method": "exact",
    }


@pytest.mark.parametrize("discordant", [5, 20, 40, 0])
def test_mcnemar_equal_discordant_counts_give_p_one(discordant):
    result = mcnemar(*correctness(30, discordant, discordant, 3))
    assert result["method"] == "exact"
    assert result["p_value"] == 1.0


@pytest.mark.parametrize(
    ("a_only", "b_only"), [(0, 1), (3, 9), (12, 12), (13, 12), (30, 50), (200, 160), (10, 2990)]
)
def test_mcnemar_is_always_the_exact_binomial_test(a_only, b_only):
    # Also beyond 25 discordant pairs, where a chi-square approximation used to take over.
    result = mcnemar(*correctness(500, a_only, b_only, 40))
    expected = stats.binomtest(min(a_only, b_only), a_only + b_only, 0.5).pvalue
    assert result["method"] == "exact"
    assert result["statistic"] == min(a_only, b_only)
    assert result["p_value"] == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_mcnemar_refuses_arrays_of_different_lengths():
    with pytest.raises(ValueError):
        mcnemar([True, False], [True])


def correlated_models(n: int, seed: int, gain: float):
    """Labels and two models sharing most of their noise; B adds ``gain`` of extra signal."""
    rng = np.random.default_rng(seed)
    scores, labels = binormal_sample(rng, 0.8, n)
    return (
        labels,
        scores + 0.3 * rng.normal(size=n),
        scores + 0.3 * rng.normal(size=n) + gain * labels,
    )


def test_identical_models_differ_by_exactly_zero():
    labels, scores, _ = correlated_models(120, 0, 0.0)
    statistic = weighted_auroc(scores, labels)
    result = paired_bootstrap(statistic, statistic, 120, resamples=200)["auroc"]
    assert result["a"] == result["b"]
    assert result["difference"] == result["low"] == result["high"] == 0.0
    assert result["p_value"] == 1.0
    assert result["resamples"] == 200


def test_a_clearly_better_model_is_detected():
    labels, scores_a, scores_b = correlated_models(300, 1, 1.5)
    result = paired_bootstrap(
        weighted_auroc(scores_a, labels), weighted_auroc(scores_b, labels), 300, resamples=1000
    )["auroc"]
    assert result["difference"] == pytest.approx(result["b"] - result["a"])
    assert 0 < result["low"] < result["difference"] < result["high"]
    assert isinstance(result["p_value"], float) and result["p_value"] < 0.01


def test_both_models_see_the_same_weights_and_only_shared_metrics_are_compared():
    seen = {"a": [], "b": []}

    def recording(model: str, metrics: dict):
        def statistic(weights):
            seen[model].append(weights.copy())
            return {name: weights[:, 0] * value for name, value in metrics.items()}

        return statistic

    groups = [i // 4 for i in range(40)]
    result = paired_bootstrap(
        recording("a", {"x": 1.0, "only_a": 2.0}),
        recording("b", {"x": 3.0, "only_b": 4.0}),
        40,
        resamples=50,
        groups=groups,
        block=16,
    )
    assert set(result) == {"x"}
    assert len(seen["a"]) == len(seen["b"]) == 5  # four blocks, then the point estimate
    assert all((a == b).all() for a, b in zip(seen["a"], seen["b"], strict=True))
    assert result["x"]["difference"] == 2.0


def test_pairing_narrows_the_interval_of_a_difference():
    labels, scores_a, scores_b = correlated_models(200, 2, 0.2)
    stat_a, stat_b = weighted_auroc(scores_a, labels), weighted_auroc(scores_b, labels)
    paired = paired_bootstrap(stat_a, stat_b, 200, resamples=500)["auroc"]
    alone_a = bootstrap_ci(stat_a, 200, resamples=500, seed=1)["auroc"]
    alone_b = bootstrap_ci(stat_b, 200, resamples=500, seed=2)["auroc"]
    # Width of a difference's interval were the two models' errors independent.
    unpaired = math.hypot(alone_a["high"] - alone_a["low"], alone_b["high"] - alone_b["low"])
    assert paired["high"] - paired["low"] < 0.5 * unpaired


def mann_whitney(scores: np.ndarray, labels: np.ndarray) -> float:
    """P(positive outranks negative) + P(tie) / 2, over every pair."""
    positive, negative = scores[labels == 1], scores[labels == 0]
    return np.mean((positive[:, None] > negative) + 0.5 * (positive[:, None] == negative))


def structural_components_variance(scores_a, scores_b, labels) -> float:
    """Var(AUROC_b - AUROC_a) from DeLong et al. (1988), written out over every pair."""
    components = []
    for scores in (scores_a, scores_b):
        positive, negative = scores[labels == 1], scores[labels == 0]
        psi = (positive[:, None] > negative) + 0.5 * (positive[:, None] == negative)
        components.append(
            (psi.mean(axis=1), psi.mean(axis=0))
        )  # V10 per positive, V01 per negative
    variance = 0.0
    for axis in (0, 1):
        a, b = components[0][axis], components[1][axis]
        covariance = np.cov(a, b)
        variance += (covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]) / len(a)
    return variance


def test_delong_aurocs_and_variance_match_the_pairwise_definitions():
    labels, scores_a, scores_b = correlated_models(300, 3, 0.3)
    labels = labels[:-37]  # unequal classes
    # Coarse scores make many ties, which count one half.
    scores_a, scores_b = np.round(scores_a[:-37], 1), np.round(scores_b[:-37], 1)
    result = delong(scores_a, scores_b, labels)
    assert result["auroc_a"] == pytest.approx(mann_whitney(scores_a, labels), abs=1e-12)
    assert result["auroc_b"] == pytest.approx(roc_auc_score(labels, scores_b), abs=1e-12)
    assert result["difference"] == pytest.approx(result["auroc_b"] - result["auroc_a"])
    variance = structural_components_variance(scores_a, scores_b, labels)
    assert result["se"] == pytest.approx(math.sqrt(variance), rel=1e-9)
    assert result["z"] == pytest.approx(result["difference"] / result["se"])
    assert result["p_value"] == pytest.approx(2 * stats.norm.sf(abs(result["z"])))
    assert result["low"] == pytest.approx(result["difference"] - 1.959964 * result["se"])
    assert result["high"] == pytest.approx(result["difference"] + 1.959964 * result["se"])


def test_delong_standard_error_agrees_with_the_paired_bootstrap():
    labels, scores_a, scores_b = correlated_models(1000, 4, 0.2)
    result = delong(scores_a, scores_b, labels)
    stat_a, stat_b = weighted_auroc(scores_a, labels), weighted_auroc(scores_b, labels)
    differences = resample_statistic(lambda w: {"d": stat_b(w)["auroc"] - stat_a(w)["auroc"]}, 1000)
    assert result["se"] == pytest.approx(np.std(differences["d"], ddof=1), rel=0.15)


def test_delong_identical_models_have_no_difference():
    labels, scores, _ = correlated_models(100, 5, 0.0)
    result = delong(scores, scores, labels)
    assert result["difference"] == result["z"] == result["se"] == 0.0
    assert result["p_value"] == 1.0
    assert result["low"] == result["high"] == 0.0


@pytest.mark.parametrize("labels", [[1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 0]])
def test_delong_refuses_too_few_of_a_class(labels):
    with pytest.raises(ValueError):
        delong(np.linspace(0, 1, 4), np.linspace(0, 1, 4), labels)
