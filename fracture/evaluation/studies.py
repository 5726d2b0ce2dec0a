"""Study-level predictions: one per study, the mean of its images' probabilities.

MURA labels studies, not images, and its leaderboard scores studies; a radiologist also
reads the study as a whole. ``evaluate`` reports ``<split>_study/*`` from these.
"""

from collections import defaultdict
from collections.abc import Sequence

import numpy as np


def study_probabilities(
    probabilities: np.ndarray, labels: Sequence[int], studies: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Mean probability and label of each study, studies in sorted order.

    Raises:
        ValueError: When a study's images disagree on the label.
    """
    members: dict[str, list[int]] = defaultdict(list)
    for index, study in enumerate(studies):
        members[study].append(index)
    names = sorted(members)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    means = np.array([probabilities[members[name]].mean() for name in names])
    study_labels = [{labels[i] for i in members[name]} for name in names]
    if any(len(found) > 1 for found in study_labels):
        raise ValueError("a study's images carry different labels; study metrics need one")
    return means, np.array([found.pop() for found in study_labels], dtype=np.int64), names
