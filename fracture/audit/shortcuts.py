"""Trivial features that predict the label: a model will learn them instead of fractures.

When, say, every fractured image is a 2,000-pixel JPEG from one hospital and every normal
one a 1,024-pixel PNG from another, high accuracy says nothing about fractures. Each
feature is tested honestly: the label of each feature value is learnt on train and scored on
val and test, by balanced accuracy (0.5 is chance whatever the class balance).
"""

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

# Balanced accuracy at or above which a feature is reported as a shortcut.
SHORTCUT_BALANCED_ACCURACY = 0.75
FEATURES = ("size", "mode", "format")


@dataclass(frozen=True)
class Observation:
    """One readable image: its split, label and trivial features."""

    split: str
    label: int
    size: str
    mode: str
    format: str


def shortcut_scores(observations: Sequence[Observation]) -> dict[str, float | None]:
    """Balanced accuracy on val + test of predicting the label from each feature alone."""
    train = [o for o in observations if o.split == "train"]
    held_out = [o for o in observations if o.split != "train"]
    return {feature: _score(train, held_out, feature) for feature in FEATURES}


def shortcut_warnings(scores: dict[str, float | None]) -> list[str]:
    return [
        f"{feature} alone predicts the label with balanced accuracy {score:.2f} on val+test "
        f"(>= {SHORTCUT_BALANCED_ACCURACY}): a model can learn {feature} instead of fractures"
        for feature, score in scores.items()
        if score is not None and score >= SHORTCUT_BALANCED_ACCURACY
    ]


def _score(train: list[Observation], held_out: list[Observation], feature: str) -> float | None:
    if not train or {o.label for o in held_out} != {0, 1}:
        return None
    predict = _majority_rule(train, feature)
    hits = defaultdict(list)
    for o in held_out:
        hits[o.label].append(predict(getattr(o, feature)) == o.label)
    return sum(sum(h) / len(h) for h in hits.values()) / len(hits)


def _majority_rule(train: list[Observation], feature: str):
    """Each value's majority label in train; unseen values get train's majority label."""
    by_value: dict[str, Counter] = defaultdict(Counter)
    for o in train:
        by_value[getattr(o, feature)][o.label] += 1
    fallback = Counter(o.label for o in train).most_common(1)[0][0]
    rule = {value: counts.most_common(1)[0][0] for value, counts in by_value.items()}
    return lambda value: rule.get(value, fallback)
