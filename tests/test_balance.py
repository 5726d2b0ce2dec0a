"""Class-imbalance handling: loss weights and the balanced sampler."""

from collections import Counter
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from fracture.data.balance import check_balance, class_weights, sample_weights
from fracture.data.samples import Sample
from fracture.data.sampling import EpochSampler
from fracture.errors import ConfigError


def imbalanced(fractured: int = 10, normal: int = 30) -> list[Sample]:
    return [Sample(Path(f"f{i}"), 1) for i in range(fractured)] + [
        Sample(Path(f"n{i}"), 0) for i in range(normal)
    ]


def test_class_weights_make_both_classes_weigh_the_same_in_the_loss():
    samples = imbalanced()
    weights = class_weights(samples)
    torch.testing.assert_close(weights, torch.tensor([40 / 60, 40 / 20]))
    labels = torch.tensor([s.label for s in samples])
    per_class = {c: weights[c] * (labels == c).sum() for c in (0, 1)}
    assert per_class[0] == pytest.approx(per_class[1])
    # CrossEntropyLoss's weighted mean equals the hand-written one.
    logits = torch.randn(len(samples), 2, generator=torch.Generator().manual_seed(0))
    by_hand = (weights[labels] * F.cross_entropy(logits, labels, reduction="none")).sum()
    by_hand /= weights[labels].sum()
    torch.testing.assert_close(F.cross_entropy(logits, labels, weight=weights), by_hand)


def test_balanced_sampler_draws_classes_equally_often():
    samples = imbalanced(fractured=50, normal=450)
    weights = sample_weights(samples)
    draws = [
        samples[i].label for epoch in range(20) for i, _ in EpochSampler(samples, 0, epoch, weights)
    ]
    counts = Counter(draws)
    assert len(draws) == 20 * 500
    assert abs(counts[1] / len(draws) - 0.5) < 0.02


def test_unknown_balance_is_a_config_error():
    with pytest.raises(ConfigError, match=r"data\.balance='oversample'"):
        check_balance("oversample")
