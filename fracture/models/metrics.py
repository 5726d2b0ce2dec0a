"""Binary classification metrics on the positive class *fractured*."""

from torchmetrics import MetricCollection
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryAUROC,
    BinaryF1Score,
    BinaryPrecision,
    BinaryRecall,
)


def stage_metrics(stage: str, threshold: float = 0.5) -> MetricCollection:
    """Metrics logged as ``<stage>/acc``, ``<stage>/f1``, ... from P(fractured) and labels."""
    return MetricCollection(
        {
            "acc": BinaryAccuracy(threshold=threshold),
            "f1": BinaryF1Score(threshold=threshold),
            "precision": BinaryPrecision(threshold=threshold),
            "recall": BinaryRecall(threshold=threshold),
            "auroc": BinaryAUROC(),
        },
        prefix=f"{stage}/",
    )
