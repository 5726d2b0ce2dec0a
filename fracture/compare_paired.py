"""The sections of ``fracture-compare`` built on test predictions: pooled confidence
intervals per experiment and paired tests between experiments (the statistics live in
``fracture.evaluation.comparison``)."""

from fracture.compare_runs import Run
from fracture.evaluation.comparison import Pooled, paired_comparison, pool, pooled_intervals
from fracture.evaluation.predictions import read_predictions
from fracture.run_files import PREDICTIONS_FILE

PAIRED_FIELDS = (
    *("a", "b", "images", "metric", "a_value", "b_value"),
    *("difference", "low", "high", "p_value", "test"),
)
# Shown with the pooled bootstrap interval, and compared pairwise.
INTERVAL_METRICS = ("acc", "recall", "specificity", "auroc")


def pooled_predictions(runs: list[Run]) -> dict[str, Pooled]:
    """Each group's finished runs' ``predictions.csv``, pooled."""
    found: dict[str, list[dict]] = {}
    for run in runs:
        if run.metrics is not None and (run.path / PREDICTIONS_FILE).is_file():
            found.setdefault(run.label or run.experiment, []).append(
                read_predictions(run.path / PREDICTIONS_FILE)
            )
    return {name: pool(predictions) for name, predictions in sorted(found.items())}


def interval_table(pooled: dict[str, Pooled], resamples: int, seed: int) -> str:
    """Pooled test predictions: each metric with its 95 % bootstrap interval."""
    lines = ["| experiment | images | unit | " + " | ".join(INTERVAL_METRICS) + " |"]
    lines.append("|" + " --- |" * (len(INTERVAL_METRICS) + 3))
    for name, predictions in pooled.items():
        intervals = pooled_intervals(predictions, resamples, seed)
        cells = [
            f"{_number(intervals[m]['value'])} [{_number(intervals[m]['low'])}, "
            f"{_number(intervals[m]['high'])}]"
            for m in INTERVAL_METRICS
        ]
        head = f"| {name} | {len(set(predictions.paths))} | {predictions.unit} | "
        lines.append(head + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired_rows(
    pooled: dict[str, Pooled], resamples: int, seed: int, baseline: str = "frozen"
) -> list[dict]:
    """One row per (pair of experiments, metric, test): differences are B - A.

    A is the ``baseline`` experiment when a pair includes it (so "finetune vs frozen" reads
    as the gain of fine-tuning), else the alphabetically first.
    """
    names = sorted(pooled, key=lambda name: (name != baseline, name))
    rows = []
    for index, a in enumerate(names):
        for b in names[index + 1 :]:
            result = paired_comparison(pooled[a], pooled[b], resamples, seed)
            if result is not None:  # runs on different test images cannot be paired
                rows += _rows_of(a, b, result)
    return rows


def _rows_of(a: str, b: str, result: dict) -> list[dict]:
    base = {"a": a, "b": b, "images": result["images"]}
    boot, test = result["bootstrap"], result["mcnemar"]
    rows = [
        {
            **base,
            "metric": m,
            "a_value": boot[m]["a"],
            "b_value": boot[m]["b"],
            "difference": boot[m]["difference"],
            "low": boot[m]["low"],
            "high": boot[m]["high"],
            "p_value": test["p_value"] if m == "acc" else boot[m]["p_value"],
            "test": f"McNemar ({test['method']})" if m == "acc" else "paired bootstrap",
        }
        for m in INTERVAL_METRICS
    ]
    d = result["delong"]
    rows.append(
        {
            **base,
            "metric": "auroc",
            "a_value": d["auroc_a"],
            "b_value": d["auroc_b"],
            "difference": d["difference"],
            "low": d["low"],
            "high": d["high"],
            "p_value": d["p_value"],
            "test": "DeLong",
        }
    )
    return rows


def paired_table(rows: list[dict]) -> str:
    lines = [
        "| B vs A | images | metric | A | B | B - A | 95 % CI | p | test |",
        "|" + " --- |" * 9,
    ]
    for r in rows:
        lines.append(
            f"| {r['b']} vs {r['a']} | {r['images']} | {r['metric']} | {_number(r['a_value'])} | "
            f"{_number(r['b_value'])} | {_number(r['difference'], '+.3f')} | "
            f"[{_number(r['low'], '+.3f')}, {_number(r['high'], '+.3f')}] | "
            f"{_p(r['p_value'])} | {r['test']} |"
        )
    return "\n".join(lines)


def _number(value, spec: str = ".3f") -> str:
    return "-" if value is None or value != value else format(value, spec)


def _p(value: float) -> str:
    return "-" if value != value else (f"{value:.2g}" if value >= 1e-4 else "<1e-4")
