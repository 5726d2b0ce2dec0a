"""Study-level metrics (MURA): mean probability per study, scored like images."""

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from fracture.evaluation.studies import study_metrics


def test_study_metrics_match_sklearn_on_mean_aggregated_probabilities():
    rng = np.random.default_rng(3)
    studies = [f"s{i // 3}" for i in range(60)] + [f"t{i}" for i in range(15)]
    study_label = {s: int(rng.random() < 0.4) for s in set(studies)}
    labels = [study_label[s] for s in studies]
    probabilities = np.clip(np.array(labels) * 0.3 + rng.random(len(labels)) * 0.7, 0, 1)
    metrics = study_metrics(torch.tensor(probabilities, dtype=torch.float32), labels, studies)

    names = sorted(set(studies))
    means = np.array(
        [probabilities[[i for i, s in enumerate(studies) if s == n]].mean() for n in names]
    )
    truth = np.array([study_label[n] for n in names])
    assert metrics["test_study/count"] == 35
    assert metrics["test_study/acc"] == pytest.approx(accuracy_score(truth, means >= 0.5))
    assert metrics["test_study/f1"] == pytest.approx(f1_score(truth, means >= 0.5))
    assert metrics["test_study/auroc"] == pytest.approx(roc_auc_score(truth, means), abs=1e-6)


def test_a_study_with_two_labels_is_refused():
    with pytest.raises(ValueError, match="different labels"):
        study_metrics(torch.tensor([0.2, 0.9]), [0, 1], ["s", "s"])
