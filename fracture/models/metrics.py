"""Binary classification metrics on the positive class *fractured*.

The per-epoch curves use the metric names of the evaluation (``fracture.evaluation.metrics``),
at threshold 0.5, under groups of their own (:data:`CURVES`): ``val/*`` and ``test/*`` are the
evaluation's numbers at the chosen threshold (``metrics.json``, TensorBoard's final points and
HPARAMS, ``fracture-compare``), so a curve can never be mistaken for a result.
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

# The group each stage's per-epoch curves are logged under.
CURVES = {"train": "train", "val": "val_epoch"}


def stage_metrics(stage: str, threshold: float = 0.5) -> MetricCollection:
    """Metrics logged as ``<group>/acc``, ``<group>/f1``, ... (group ``CURVES[stage]``) from
    P(fractured) and labels."""
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
        prefix=f"{CURVES[stage]}/",
    )
