"""Class-imbalance handling chosen by ``data.balance``: none, sampler or loss_weights."""

from collections import Counter
from collections.abc import Sequence

import torch

from fracture.data.samples import Sample
from fracture.errors import ConfigError
from fracture.labels import CLASS_NAMES

BALANCE_CHOICES = ("none", "sampler", "loss_weights")


def check_balance(balance: str) -> str:
    if balance not in BALANCE_CHOICES:
        raise ConfigError(f"data.balance={balance!r} is not one of {', '.join(BALANCE_CHOICES)}")
    return balance


def class_weights(samples: Sequence[Sample]) -> torch.Tensor:
    """Inverse class frequencies scaled so that a balanced set gets weight 1 for each class.

    Used as CrossEntropyLoss weights: each class then contributes equally to the loss.
    """
    counts = Counter(sample.label for sample in samples)
    total = sum(counts.values())
    return torch.tensor(
        [total / (len(CLASS_NAMES) * max(counts[i], 1)) for i in range(len(CLASS_NAMES))]
    )


def sample_weights(samples: Sequence[Sample]) -> torch.Tensor:
    """Per-sample draw weights (N,) under which both classes are drawn equally often
    (``data.balance=sampler``; :class:`~fracture.data.sampling.EpochSampler` draws them)."""
    return class_weights(samples)[[sample.label for sample in samples]]
