"""Matplotlib figures, built without pyplot so they work headless and in worker threads."""

import textwrap
from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

_TITLE_WIDTH = 48  # characters per title line of a 4-inch figure


def fitted_title(text: str, lines: int = 2) -> str:
    """A title wrapped to the figure's width (run names of sweeps are long), at most
    ``lines`` lines, the rest shown as an ellipsis."""
    wrapped = textwrap.wrap(text, _TITLE_WIDTH, break_long_words=True) or [""]
    if len(wrapped) > lines:
        wrapped = wrapped[:lines]
        wrapped[-1] = wrapped[-1][: _TITLE_WIDTH - 1] + "…"
    return "\n".join(wrapped)


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
    axes.set(xticks=ticks, yticks=ticks, xlabel="predicted", ylabel="true")
    axes.set_title(fitted_title(title), fontsize=9)
    axes.set_xticklabels(class_names)
    axes.set_yticklabels(class_names, rotation=90, va="center")
    return figure


Interval = tuple[float, float, float]  # (value, low, high)


def metric_bars_figure(
    intervals: dict[str, dict[str, Interval]],
    metrics: Sequence[str],
    runs: dict[str, dict[str, list[float]]] | None = None,
    title: str = "",
) -> Figure:
    """Grouped bars: each experiment's value with its confidence interval as the error bar.

    Args:
        intervals: ``intervals[experiment][metric] = (value, low, high)``; NaN bounds draw no
            error bar.
        metrics: The metrics to show, in order.
        runs: ``runs[experiment][metric]``: each run's own value, drawn as dots where an
            experiment has several runs (its run-to-run spread).
        title: The figure's title.
    """
    figure = Figure(figsize=(1.6 + 1.3 * len(metrics), 3.8), layout="constrained")
    axes = figure.add_subplot()
    width = 0.8 / max(len(intervals), 1)
    positions = np.arange(len(metrics))
    for index, (experiment, values) in enumerate(intervals.items()):
        x = positions + index * width
        value, low, high = np.array([values[m] for m in metrics], dtype=float).T
        axes.bar(x, value, width, yerr=[value - low, high - value], capsize=3, label=experiment)
        seeds = (runs or {}).get(experiment, {})
        for offset, metric in zip(x, metrics, strict=True):
            if len(seeds.get(metric, [])) > 1:
                points = seeds[metric]
                axes.plot([offset] * len(points), points, "k.", ms=4, label="_runs")
    axes.set_xticks(
        positions + width * (len(intervals) - 1) / 2, [m.split("/")[-1] for m in metrics]
    )
    axes.set(ylim=(0, 1.05), ylabel="test split", title=title)
    axes.legend(loc="lower right")
    return figure
