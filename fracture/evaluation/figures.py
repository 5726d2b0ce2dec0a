"""ROC, precision-recall and reliability figures (pyplot-free, like ``fracture.figures``).

Legends carry the AUROC / average precision computed by ``fracture.evaluation.metrics``, the
same numbers ``metrics.json`` reports, and titles name the run.
"""

from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure
from torchmetrics.functional.classification import binary_precision_recall_curve, binary_roc

from fracture.evaluation.metrics import binary_metrics
from fracture.figures import fitted_title

Curves = dict[str, tuple[np.ndarray, np.ndarray]]  # name -> (probabilities, labels)


@dataclass(frozen=True)
class OperatingPoint:
    """Where a threshold puts a model: its sensitivity, specificity and precision."""

    threshold: float
    false_positive_rate: float
    sensitivity: float
    precision: float

    @property
    def label(self) -> str:
        return f"threshold {self.threshold:.3f}"


def roc_figure(
    curves: Curves, points: dict[str, OperatingPoint] | None = None, title: str = ""
) -> Figure:
    """ROC curves (overlaid when several), each operating point a labelled dot."""
    figure, axes = _square("false positive rate (1 - specificity)", "sensitivity", title)
    axes.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    for name, (probabilities, labels) in curves.items():
        fpr, tpr, _ = binary_roc(torch.as_tensor(probabilities), torch.as_tensor(labels))
        auroc = _score(probabilities, labels, "auroc")
        line = axes.plot(fpr.numpy(), tpr.numpy(), label=f"{name} (AUC {auroc:.3f})")[0]
        if points and name in points:
            point = points[name]
            xy = (point.false_positive_rate, point.sensitivity)
            _mark(axes, xy, point.label, line.get_color())
    axes.legend(loc="lower right")
    return figure


def pr_figure(
    curves: Curves, points: dict[str, OperatingPoint] | None = None, title: str = ""
) -> Figure:
    """Precision-recall curves, with the prevalence of *fractured* as the chance line."""
    figure, axes = _square("recall (sensitivity)", "precision (PPV)", title)
    for name, (probabilities, labels) in curves.items():
        precision, recall, _ = binary_precision_recall_curve(
            torch.as_tensor(probabilities), torch.as_tensor(labels)
        )
        ap = _score(probabilities, labels, "auprc")
        line = axes.plot(recall.numpy(), precision.numpy(), label=f"{name} (AP {ap:.3f})")[0]
        axes.axhline(float(np.mean(labels)), color="grey", lw=0.8, ls="--")
        if points and name in points:
            point = points[name]
            _mark(axes, (point.sensitivity, point.precision), point.label, line.get_color())
    axes.legend(loc="lower left")
    return figure


def reliability_figure(curve: dict, title: str = "") -> Figure:
    """Observed frequency of *fractured* against mean predicted probability per bin, each
    bin labelled with its number of images (a point of 2 images says little)."""
    figure, axes = _square("mean predicted P(fractured)", "observed fraction fractured", title)
    axes.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    count = np.asarray(curve["count"])
    filled = count > 0
    confidence = np.asarray(curve["confidence"])[filled]
    frequency = np.asarray(curve["frequency"])[filled]
    axes.plot(confidence, frequency, "o-", label="bins (n = images)")
    for x, y, n in zip(confidence, frequency, count[filled], strict=True):
        axes.annotate(f"n={n}", (x, y), xytext=(3, -10), textcoords="offset points", fontsize=7)
    axes.legend(loc="upper left")
    return figure


def _score(probabilities, labels, name: str) -> float:
    return float(binary_metrics(probabilities, labels, 0.5)[name][0])


def _mark(axes, xy: tuple[float, float], label: str, colour) -> None:
    axes.plot(*xy, "o", color=colour)
    axes.annotate(label, xy, xytext=(6, -12), textcoords="offset points", fontsize=8)


def _square(xlabel: str, ylabel: str, title: str = ""):
    figure = Figure(figsize=(4.2, 4.0), layout="constrained")
    axes = figure.add_subplot()
    axes.set(xlim=(0, 1), ylim=(0, 1.02), xlabel=xlabel, ylabel=ylabel)
    axes.set_title(fitted_title(title), fontsize=9)
    return figure, axes
