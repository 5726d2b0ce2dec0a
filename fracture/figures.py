"""Matplotlib figures, built without pyplot so they work headless and in worker threads."""

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure


def confusion_matrix_figure(
    matrix: torch.Tensor, class_names: Sequence[str], title: str = ""
) -> Figure:
    """Counts and row-normalised rates; rows are true classes, columns predictions."""
    counts = np.asarray(matrix, dtype=np.int64)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    figure = Figure(figsize=(4.2, 3.6), layout="constrained")
    axes = figure.add_subplot()
    axes.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for (row, col), count in np.ndenumerate(counts):
        colour = "white" if rates[row, col] > 0.5 else "black"
        axes.text(
            col, row, f"{count}\n{rates[row, col]:.1%}", ha="center", va="center", color=colour
        )
    ticks = range(len(class_names))
    axes.set(xticks=ticks, yticks=ticks, xlabel="predicted", ylabel="true", title=title)
    axes.set_xticklabels(class_names)
    axes.set_yticklabels(class_names, rotation=90, va="center")
    return figure


def metric_bars_figure(
    table: dict[str, dict[str, tuple[float, float]]], metrics: Sequence[str]
) -> Figure:
    """Grouped bars of ``table[experiment][metric] = (mean, std)`` with std error bars."""
    figure = Figure(figsize=(1.6 + 1.3 * len(metrics), 3.6), layout="constrained")
    axes = figure.add_subplot()
    width = 0.8 / max(len(table), 1)
    positions = np.arange(len(metrics))
    for index, (experiment, values) in enumerate(table.items()):
        means = [values[m][0] for m in metrics]
        stds = [values[m][1] for m in metrics]
        axes.bar(positions + index * width, means, width, yerr=stds, capsize=3, label=experiment)
    axes.set_xticks(positions + width * (len(table) - 1) / 2, [m.split("/")[-1] for m in metrics])
    axes.set(ylim=(0, 1.05), ylabel="test split")
    axes.legend(loc="lower right")
    return figure
