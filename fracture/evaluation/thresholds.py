"""Operating thresholds on P(fractured), chosen on the validation split.

Candidate thresholds are the distinct validation scores; a case is called fractured when
``p >= t``, so tied scores always fall on the same side.
"""

import numpy as np

from fracture.errors import ConfigError
from fracture.evaluation.metrics import as_array

POLICIES = ("fixed", "youden", "sensitivity")


def choose_threshold(
    probabilities,
    labels,
    policy: str = "fixed",
    fixed: float = 0.5,
    target_sensitivity: float = 0.95,
) -> float:
    """The threshold that ``policy`` picks on these validation scores.

    * ``fixed``: ``fixed``, whatever the scores.
    * ``youden``: the distinct score t maximising sensitivity + specificity - 1; when several
      reach the maximum, the largest of them (the most specific operating point).
    * ``sensitivity``: the largest distinct score t whose sensitivity is at least
      ``target_sensitivity``. Lowering the threshold from 1, this is where sensitivity first
      reaches the target ("the lowest threshold reaching a target sensitivity" in the issue),
      i.e. the most specific threshold that still meets it.

    Args:
        probabilities: (N,) validation P(fractured).
        labels: (N,) validation labels, 1 = fractured.
        policy: One of ``POLICIES``.
        fixed: The threshold of the ``fixed`` policy.
        target_sensitivity: The sensitivity the ``sensitivity`` policy must reach, in (0, 1].

    Raises:
        ConfigError: For an unknown policy, a target outside (0, 1], or a validation split
            with one class only under ``youden`` or ``sensitivity``.
    """
    _check_settings(policy, target_sensitivity)
    if policy == "fixed":
        return float(fixed)
    scores, tp, fp = _cumulative_counts(probabilities, labels, policy)
    if policy == "youden":
        # J * P * N = tp * N - fp * P is exact in integers, so tied maxima compare equal;
        # argmax takes the first, i.e. the largest threshold.
        return float(scores[np.argmax(tp * fp[-1] - fp * tp[-1])])
    # Sensitivity only grows as t falls: the first score reaching the target is the largest.
    return float(scores[np.argmax(tp / tp[-1] >= target_sensitivity)])


def _check_settings(policy: str, target_sensitivity: float) -> None:
    if policy not in POLICIES:
        raise ConfigError(
            f"evaluation.threshold.policy={policy!r} is not one of {', '.join(POLICIES)}"
        )
    if not 0 < target_sensitivity <= 1:
        raise ConfigError(
            f"evaluation.threshold.target_sensitivity={target_sensitivity!r} is not in (0, 1]"
        )


def _cumulative_counts(probabilities, labels, policy: str):
    # Distinct scores descending, with the positives (tp) and negatives (fp) at or above each.
    p, y = as_array(probabilities), as_array(labels).astype(np.int64)
    present = sorted(set(y.tolist()))
    if present != [0, 1]:
        raise ConfigError(
            f"threshold policy {policy!r} needs both classes in the validation split; "
            f"it has labels {present}"
        )
    order = np.argsort(-p, kind="stable")
    ends = np.flatnonzero(np.r_[np.diff(p[order]) != 0, True])
    tp = np.cumsum(y[order])[ends]
    return p[order][ends], tp, ends + 1 - tp
