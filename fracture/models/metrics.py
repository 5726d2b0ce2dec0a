"""Binary classification metrics on the positive class *fractured*.

Every stage logs the same names as the test evaluation writes (``fracture.evaluation.metrics``):
the validation curves show what the final test numbers will be about.
"""

from torchmetrics import MetricCollection
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryAUROC,
    BinaryAveragePrecision,
    BinaryF1Score,
    BinaryPrecision,
    BinaryRecall,
    BinarySpecificity,
)


def stage_metrics(stage: str, threshold: float = 0.5) -> MetricCollection:
    """Metrics logged as ``<stage>/acc``, ``<stage>/f1``, ... from P(fractured) and labels."""
    recall = BinaryRecall(threshold=threshold)
    specificity = BinarySpecificity(threshold=threshold)
    return MetricCollection(
        {
            "acc": BinaryAccuracy(threshold=threshold),
            # Mean recall of the two classes; a composition, so it is computed from the
            # recall and specificity states above (synced with them under DDP).
            "balanced_acc": (recall + specificity) / 2,
            "f1": BinaryF1Score(threshold=threshold),
            "precision": BinaryPrecision(threshold=threshold),
            "recall": recall,
            "specificity": specificity,
            "auroc": BinaryAUROC(),
            "auprc": BinaryAveragePrecision(),  # average precision, as scikit-learn's
        },
        prefix=f"{stage}/",
    )
