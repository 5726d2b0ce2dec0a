"""ROC, precision-recall and reliability figures (pyplot-free, like ``fracture.figures``)."""

import numpy as np
import torch
from matplotlib.figure import Figure
from torchmetrics.functional.classification import binary_precision_recall_curve, binary_roc

Curves = dict[str, tuple[np.ndarray, np.ndarray]]  # name -> (probabilities, labels)


def roc_figure(curves: Curves, points: dict[str, tuple[float, float]] | None = None) -> Figure:
    """ROC curves (overlaid when several), with each operating point as a dot."""
    figure, axes = _square("false positive rate (1 - specificity)", "sensitivity")
    axes.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    for name, (probabilities, labels) in curves.items():
        fpr, tpr, _ = binary_roc(torch.as_tensor(probabilities), torch.as_tensor(labels))
        line = axes.plot(fpr.numpy(), tpr.numpy(), label=name)[0]
        if points and name in points:
            axes.plot(*points[name], "o", color=line.get_color())
    axes.legend(loc="lower right")
    return figure


def pr_figure(curves: Curves) -> Figure:
    """Precision-recall curves, with the prevalence of *fractured* as the chance line."""
    figure, axes = _square("recall (sensitivity)", "precision (PPV)")
    for name, (probabilities, labels) in curves.items():
        precision, recall, _ = binary_precision_recall_curve(
            torch.as_tensor(probabilities), torch.as_tensor(labels)
        )
        axes.plot(recall.numpy(), precision.numpy(), label=name)
        axes.axhline(float(np.mean(labels)), color="grey", lw=0.8, ls="--")
    axes.legend(loc="lower left")
    return figure


def reliability_figure(curve: dict, title: str = "") -> Figure:
    """Observed frequency of *fractured* against mean predicted probability per bin."""
    figure, axes = _square("mean predicted P(fractured)", "observed fraction fractured")
    axes.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    filled = np.asarray(curve["count"]) > 0
    confidence = np.asarray(curve["confidence"])[filled]
    frequency = np.asarray(curve["frequency"])[filled]
    axes.plot(confidence, frequency, "o-")
    axes.set_title(title)
    return figure


def _square(xlabel: str, ylabel: str):
    figure = Figure(figsize=(4.2, 4.0), layout="constrained")
    axes = figure.add_subplot()
    axes.set(xlim=(0, 1), ylim=(0, 1.02), xlabel=xlabel, ylabel=ylabel)
    return figure, axes
