"""Temperature scaling recovers a known over-confidence and improves calibration only."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fracture.evaluation.calibration import apply_temperature, fit_temperature, reliability_curve
from fracture.evaluation.metrics import binary_metrics

OVERCONFIDENCE = 3.0


@pytest.fixture(scope="module")
def overconfident():
    # Labels drawn from calibrated logit differences z; the "model" reports 3 z.
    rng = np.random.default_rng(0)
    z = rng.normal(0.0, 1.5, size=20_000)
    labels = (rng.random(z.size) < 1 / (1 + np.exp(-z))).astype(int)
    logits = np.stack([-z, z], axis=1) * OVERCONFIDENCE / 2
    return logits, labels


def _nll(logits, labels, temperature: float) -> float:
    z = torch.tensor(logits) / temperature
    return float(F.cross_entropy(z, torch.tensor(labels)))


def test_fitted_temperature_recovers_the_overconfidence(overconfident):
    logits, labels = overconfident
    temperature = fit_temperature(logits, labels)
    assert temperature == pytest.approx(OVERCONFIDENCE, rel=0.1)
    assert _nll(logits, labels, temperature) <= _nll(logits, labels, 1.0)


def test_fitted_temperature_is_the_grid_minimum(overconfident):
    logits, labels = overconfident
    grid = np.linspace(0.5, 6.0, 1101)  # spacing 0.005
    brute = grid[np.argmin([_nll(logits, labels, t) for t in grid])]
    assert fit_temperature(logits, labels) == pytest.approx(brute, abs=0.005)


def test_scaling_lowers_ece_and_keeps_auroc(overconfident):
    logits, labels = overconfident
    before = binary_metrics(apply_temperature(logits, 1.0), labels, 0.5)
    after = binary_metrics(apply_temperature(logits, fit_temperature(logits, labels)), labels, 0.5)
    assert after["ece"][0] < before["ece"][0] / 2
    assert after["brier"][0] < before["brier"][0]
    assert after["auroc"][0] == pytest.approx(before["auroc"][0], abs=1e-12)


def test_apply_temperature_is_the_softmax_of_scaled_logits():
    logits = np.array([[0.0, 2.0], [1.0, -1.0]])
    # softmax([0, 1])[1] = 1 / (1 + e^-1); softmax([0.5, -0.5])[1] = 1 / (1 + e^1).
    expected = [1 / (1 + np.exp(-1)), 1 / (1 + np.exp(1))]
    np.testing.assert_allclose(apply_temperature(torch.tensor(logits), 2.0), expected)
    with pytest.raises(ValueError, match="positive"):
        apply_temperature(logits, 0.0)


def test_reliability_curve_bins_as_the_ece():
    probabilities = np.array([0.05, 0.15, 0.95, 1.0, 0.3])
    labels = np.array([0, 0, 1, 1, 1])
    curve = reliability_curve(probabilities, labels)
    np.testing.assert_allclose(curve["edges"], np.arange(11) / 10)
    # 0.3 sits on an edge -> bin [0.3, 0.4); 1.0 -> the closed last bin with 0.95.
    np.testing.assert_array_equal(curve["count"], [1, 1, 0, 1, 0, 0, 0, 0, 0, 2])
    assert curve["confidence"][9] == pytest.approx(0.975)
    assert curve["frequency"][[0, 3, 9]].tolist() == [0.0, 1.0, 1.0]
    assert np.isnan(curve["confidence"][2]) and np.isnan(curve["frequency"][2])
    # ECE from the curve: sum of count / n * |confidence - frequency| over non-empty bins.
    filled = curve["count"] > 0
    gaps = np.abs(curve["confidence"] - curve["frequency"])[filled]
    ece = (curve["count"][filled] / 5 * gaps).sum()
    # By hand: (0.05 + 0.15 + 0.7 + 2 * 0.025) / 5 = 0.19.
    assert ece == pytest.approx(0.19)
    assert binary_metrics(probabilities, labels, 0.5)["ece"][0] == pytest.approx(ece)
