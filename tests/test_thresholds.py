"""Threshold policies on hand-made validation scores, answers worked out in the comments."""

import numpy as np
import pytest
import torch

from fracture.errors import ConfigError
from fracture.evaluation.thresholds import choose_threshold


def test_fixed_returns_the_fixed_threshold_whatever_the_scores():
    assert choose_threshold([0.1, 0.9], [0, 1], "fixed", fixed=0.3) == 0.3
    # One class is fine: nothing is chosen from the scores.
    assert choose_threshold([0.1, 0.9], [1, 1], fixed=0.7) == 0.7


def test_youden_tie_goes_to_the_most_specific_threshold():
    # t=0.8: sens 1/2, spec 2/2 -> J = 0.5.   t=0.4: sens 1/2, spec 1/2 -> 0.
    # t=0.35: sens 2/2, spec 1/2 -> J = 0.5.  t=0.1: sens 1, spec 0 -> 0.
    # Tie between 0.35 and 0.8 -> the larger, 0.8.
    assert choose_threshold([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], "youden") == 0.8


def test_youden_picks_the_unique_maximum():
    # t=0.9: 1/3 - 0 = 1/3; t=0.7: 2/3 - 0 = 2/3; t=0.6: 2/3 - 1/2 = 1/6;
    # t=0.3: 1 - 1/2 = 1/2; t=0.2: 1 - 1 = 0 -> 0.7.
    scores = torch.tensor([0.2, 0.3, 0.6, 0.7, 0.9])
    assert choose_threshold(scores, torch.tensor([0, 1, 0, 1, 1]), "youden") == pytest.approx(0.7)


def test_youden_keeps_tied_scores_on_one_side():
    # Distinct thresholds only: t=0.9: 1/3 - 0 = 1/3; t=0.6: 2/3 - 1/2 = 1/6; t=0.3: 0 -> 0.9.
    # Splitting the tie at 0.6 (its positive above its negative) would wrongly give
    # 2/3 - 0 = 2/3 at 0.6.
    scores, labels = [0.6, 0.3, 0.6, 0.3, 0.9], [0, 0, 1, 1, 1]
    assert choose_threshold(scores, labels, "youden") == 0.9


SENS_SCORES = [0.9, 0.8, 0.6, 0.3, 0.7, 0.5, 0.4, 0.2, 0.1]
SENS_LABELS = [1, 1, 1, 1, 0, 0, 0, 0, 0]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        # Sensitivity falling threshold: 0.9 -> 1/4, 0.8 -> 2/4, 0.7 -> 2/4, 0.6 -> 3/4,
        # 0.5, 0.4 -> 3/4, 0.3 -> 4/4.
        (0.5, 0.8),  # 0.8 and 0.7 both reach 1/2: the larger, 0.8, not 0.7 nor the min 0.1
        (0.75, 0.6),  # reached exactly (3/4 >= 0.75), not only above it
        (0.8, 0.3),
        (1.0, 0.3),
        (0.1, 0.9),
    ],
)
def test_sensitivity_policy_takes_the_largest_threshold_reaching_the_target(target, expected):
    got = choose_threshold(SENS_SCORES, SENS_LABELS, "sensitivity", target_sensitivity=target)
    assert got == expected


def test_sensitivity_of_exactly_the_target_counts_despite_float_decimals():
    # Positives at 0.05, 0.10, ..., 1.00: 19 of 20 are >= 0.10, and 19 / 20 == 0.95.
    positives = np.arange(1, 21) / 20
    scores = np.r_[positives, [0.01, 0.02]]
    labels = np.r_[np.ones(20), np.zeros(2)]
    assert choose_threshold(scores, labels, "sensitivity", target_sensitivity=0.95) == 0.1


def test_unknown_policy_names_the_value_and_the_choices():
    with pytest.raises(ConfigError, match=r"policy='foo' is not one of fixed, youden, sensitivity"):
        choose_threshold([0.1, 0.9], [0, 1], "foo")


@pytest.mark.parametrize("target", [0.0, -0.1, 1.5])
def test_target_outside_zero_one_is_refused(target):
    with pytest.raises(ConfigError, match=r"target_sensitivity=.* is not in \(0, 1\]"):
        choose_threshold([0.1, 0.9], [0, 1], "sensitivity", target_sensitivity=target)


@pytest.mark.parametrize("policy", ["youden", "sensitivity"])
@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1, 1]])
def test_one_class_validation_split_is_refused(policy, labels):
    with pytest.raises(ConfigError, match="needs both classes in the validation split"):
        choose_threshold([0.2, 0.5, 0.8], labels, policy)
