"""Writing an evaluation: predictions.csv, figures, TensorBoard; metrics returned for JSON."""

from pathlib import Path

import numpy as np
import torch

from fracture.evaluation.calibration import reliability_curve
from fracture.evaluation.evaluate import Evaluation
from fracture.evaluation.figures import pr_figure, reliability_figure, roc_figure
from fracture.evaluation.predictions import PREDICTIONS_FILE, write_predictions
from fracture.figures import confusion_matrix_figure
from fracture.labels import CLASS_NAMES


def write_evaluation(out_dir: Path, evaluation: Evaluation, writer=None, step: int = 0) -> dict:
    """Write the files of one evaluation into ``out_dir``; log them to a TensorBoard writer.

    Returns:
        The evaluation's metrics (for ``metrics.json``).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    probabilities = evaluation.probabilities
    labels = evaluation.predictions.labels
    write_predictions(
        out_dir / PREDICTIONS_FILE, evaluation.predictions, probabilities, evaluation.threshold
    )
    figures = _figures(evaluation, probabilities, labels)
    for name, figure in figures.items():
        figure.savefig(out_dir / f"{name}.png", dpi=120)
    if writer is not None:
        _log(writer, evaluation, figures, step)
    return evaluation.metrics


def _figures(evaluation: Evaluation, probabilities: np.ndarray, labels: np.ndarray) -> dict:
    split = evaluation.split
    matrix = np.asarray(evaluation.metrics[f"{split}/confusion_matrix"])
    title = f"{split}, threshold {evaluation.threshold:.3f}"
    point = _operating_point(matrix)
    return {
        "confusion_matrix": confusion_matrix_figure(matrix, CLASS_NAMES, title),
        "roc": roc_figure({split: (probabilities, labels)}, {split: point}),
        "pr": pr_figure({split: (probabilities, labels)}),
        "reliability": reliability_figure(reliability_curve(probabilities, labels), split),
    }


def _operating_point(matrix: np.ndarray) -> tuple[float, float]:
    """(false positive rate, sensitivity) of a [[tn, fp], [fn, tp]] matrix."""
    (tn, fp), (fn, tp) = matrix
    return fp / max(tn + fp, 1), tp / max(tp + fn, 1)


def _log(writer, evaluation: Evaluation, figures: dict, step: int) -> None:
    split = evaluation.split
    for key, value in evaluation.metrics.items():
        if isinstance(value, float) and key.startswith(f"{split}"):
            writer.add_scalar(key, value, step)
    for name, figure in figures.items():
        writer.add_figure(f"{split}/{name}", figure, step, close=False)
    writer.add_pr_curve(
        f"{split}/pr_curve",
        torch.as_tensor(evaluation.predictions.labels),
        torch.as_tensor(evaluation.probabilities),
        step,
    )
    writer.flush()
