"""What the figures say, read from their matplotlib objects: legend numbers against
scikit-learn, the labelled operating point, bin counts, and compare.png's CI bars."""

import numpy as np
import pytest
from matplotlib.collections import LineCollection
from sklearn.metrics import average_precision_score, roc_auc_score

import fracture.compare
from fracture.compare import report
from fracture.evaluation.calibration import reliability_curve
from fracture.evaluation.figures import OperatingPoint, pr_figure, reliability_figure, roc_figure
from fracture.figures import fitted_title, metric_bars_figure
from tests.test_compare import fake_run, write_predictions_csv


@pytest.fixture(scope="module")
def scores():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 120)
    return np.clip(0.3 * labels + rng.uniform(0, 0.7, 120), 0, 1), labels


def legend_texts(figure) -> list[str]:
    return [text.get_text() for text in figure.axes[0].get_legend().get_texts()]


def annotations(figure) -> list[str]:
    return [child.get_text() for child in figure.axes[0].texts]


def test_roc_legend_has_the_auc_and_the_point_its_threshold(scores):
    probabilities, labels = scores
    point = OperatingPoint(0.42, 0.25, 0.8, 0.7)
    figure = roc_figure({"test": scores}, {"test": point}, "finetune (run-1): test")
    assert legend_texts(figure) == [f"test (AUC {roc_auc_score(labels, probabilities):.3f})"]
    assert annotations(figure) == ["threshold 0.420"]
    assert figure.axes[0].get_title() == "finetune (run-1): test"


def test_pr_legend_has_the_average_precision(scores):
    probabilities, labels = scores
    figure = pr_figure({"val": scores}, {"val": OperatingPoint(0.5, 0.2, 0.9, 0.8)})
    ap = average_precision_score(labels, probabilities)
    assert legend_texts(figure) == [f"val (AP {ap:.3f})"]
    assert annotations(figure) == ["threshold 0.500"]


def test_reliability_bins_are_labelled_with_their_counts(scores):
    curve = reliability_curve(*scores)
    figure = reliability_figure(curve, "run")
    counts = [int(text.removeprefix("n=")) for text in annotations(figure)]
    assert counts == [n for n in curve["count"] if n > 0]
    assert sum(counts) == len(scores[1])


def error_bar_extents(figure) -> list[float]:
    """low, high of every error bar, bar by bar, in one flat list."""
    segments = [
        segment
        for collection in figure.axes[0].collections
        if isinstance(collection, LineCollection)
        for segment in collection.get_segments()
    ]
    return [float(y) for s in segments for y in (s[0][1], s[1][1])]


def test_metric_bars_draw_the_intervals_and_each_run():
    intervals = {
        "frozen": {"test/acc": (0.7, 0.6, 0.78)},
        "finetune": {"test/acc": (0.9, 0.85, 0.94)},
    }
    runs = {"frozen": {"test/acc": [0.68, 0.72]}, "finetune": {"test/acc": [0.9]}}
    figure = metric_bars_figure(intervals, ["test/acc"], runs)
    assert error_bar_extents(figure) == pytest.approx([0.6, 0.78, 0.85, 0.94])
    dots = [line for line in figure.axes[0].lines if line.get_marker() == "."]
    assert [list(line.get_ydata()) for line in dots] == [[0.68, 0.72]]  # one run: no spread


def test_compare_png_shows_the_bootstrap_intervals_of_the_table(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 60)
    for name, noise in (("frozen", 0.45), ("finetune", 0.3)):
        probabilities = np.clip(labels + rng.normal(0, noise, 60), 0, 1)
        acc = float(np.mean((probabilities >= 0.5) == labels))
        write_predictions_csv(fake_run(tmp_path, name, name, 0, acc), labels, probabilities)
    drawn = []
    original = fracture.compare.metric_bars_figure
    monkeypatch.setattr(
        fracture.compare,
        "metric_bars_figure",
        lambda *args: drawn.append(original(*args)) or drawn[-1],
    )
    text = report([tmp_path], resamples=200)
    # The bars' extents are the "[low, high]" of the printed pooled-interval table (acc first).
    printed = {}
    for line in text.splitlines():
        for name in ("finetune", "frozen"):
            if line.startswith(f"| {name} | 60 |"):
                cell = line.split("|")[4].strip()  # after the unit column: "0.717 [0.600, 0.817]"
                low, high = cell.split("[")[1].rstrip("]").split(", ")
                printed[name] = (float(low), float(high))
    extents = error_bar_extents(drawn[0])
    half = len(extents) // 2  # finetune's bars, then frozen's; acc is the first metric
    acc_bars = [*extents[0:2], *extents[half : half + 2]]
    assert acc_bars == pytest.approx([*printed["finetune"], *printed["frozen"]], abs=5e-4)
    assert (tmp_path / "compare.png").stat().st_size > 1000


def test_long_run_names_are_wrapped_into_the_title(scores):
    name = "job1+experiment-finetune+model.backbone-resnet18+data.image_size-64+seed-3: test"
    title = roc_figure({"test": scores}, title=name).axes[0].get_title()
    assert title.replace("\n", "") == name and all(len(line) <= 48 for line in title.split("\n"))
    assert fitted_title("x" * 200).endswith("…") and fitted_title("x" * 200).count("\n") == 1
