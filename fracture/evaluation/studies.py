"""Study-level metrics: one prediction per study, the mean of its images' probabilities.

MURA labels studies, not images, and its leaderboard scores studies; a radiologist also
reads the study as a whole.
"""

from collections import defaultdict
from collections.abc import Sequence

import torch

from fracture.models.metrics import stage_metrics


def study_probabilities(
    probabilities: torch.Tensor, labels: Sequence[int], studies: Sequence[str]
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Mean probability and label of each study, studies in sorted order.

    Raises:
        ValueError: When a study's images disagree on the label.
    """
    members: dict[str, list[int]] = defaultdict(list)
    for index, study in enumerate(studies):
        members[study].append(index)
    names = sorted(members)
    means = torch.stack([probabilities[members[name]].mean() for name in names])
    study_labels = [{labels[i] for i in members[name]} for name in names]
    if any(len(found) > 1 for found in study_labels):
        raise ValueError("a study's images carry different labels; study metrics need one")
    return means, torch.tensor([found.pop() for found in study_labels]), names


def study_metrics(
    probabilities: torch.Tensor, labels: Sequence[int], studies: Sequence[str], stage: str = "test"
) -> dict[str, float]:
    """``<stage>_study/acc``, ``/f1``, ... over studies, plus the number of studies."""
    means, study_labels, names = study_probabilities(probabilities, labels, studies)
    metrics = stage_metrics(f"{stage}_study")
    metrics.update(means, study_labels)
    values = {name: float(value) for name, value in metrics.compute().items()}
    return {**values, f"{stage}_study/count": len(names)}
