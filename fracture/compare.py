"""Compare the test metrics of the runs of one or more sweeps: ``fracture-compare DIR...``.

Runs are grouped by what differs between them (experiment name and overrides other than the
seed; see ``fracture.compare_runs``); several seeds give mean ± std, and the pooled test
predictions of a group give bootstrap confidence intervals. Leaking runs are marked, and of
an Optuna sweep only the trial chosen on validation shows test metrics. Every pair of experiments
is compared on the same test images (McNemar for accuracy, a paired bootstrap and DeLong
for AUROC; see ``fracture.evaluation.comparison``). A run without ``metrics.json`` (failed,
killed, still running) is listed, never fatal.
"""

import csv
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from fracture.compare_arguments import compare_parser
from fracture.compare_paired import (
    interval_table,
    paired_rows,
    paired_table,
    pooled_predictions,
)
from fracture.compare_runs import LEAK_MARK, Run, hide_unchosen_trials, label_runs, leaks
from fracture.evaluation.comparison import Pooled, pooled_intervals
from fracture.evaluation.figures import roc_figure
from fracture.figures import metric_bars_figure
from fracture.run_files import (
    CONFIG_FILE,
    METRICS_FILE,
    TRACEBACK_FILE,
    read_failure,
    read_metrics,
)
from fracture.run_summary import console_command, shown_path
from fracture.spreadsheet import safe_cell, safe_row

METRICS = (
    "test/acc",
    "test/balanced_acc",
    "test/f1",
    "test/precision",
    "test/recall",
    "test/specificity",
    "test/auroc",
    "test/auprc",
)
NOT_CHOSEN = "optuna trial not chosen on validation"  # compare.csv status of hidden trials


def find_runs(sweep_dirs: list[Path]) -> list[Run]:
    """Every run directory below the sweep directories (those Hydra created for a job)."""
    job_dirs = sorted(
        {p.parent.parent for d in sweep_dirs for p in d.rglob(".hydra/overrides.yaml")}
        | {p.parent for d in sweep_dirs for p in d.rglob(METRICS_FILE)}
    )
    runs = [_load_run(path) for path in job_dirs]
    label_runs(runs)
    return runs


def _load_run(path: Path) -> Run:
    failure = read_failure(path)
    if failure is not None:
        problem = f"failed: {failure} (traceback in {path / TRACEBACK_FILE})"
        return Run(path, None, problem, failed=True)
    try:
        return Run(path, read_metrics(path))
    except FileNotFoundError:
        started = (path / CONFIG_FILE).exists()
        return Run(
            path, None, "no metrics.json (failed or interrupted)" if started else "never started"
        )
    except ValueError as error:
        return Run(path, None, f"unreadable metrics.json ({error})")


@dataclass
class Summary:
    """One group's finished runs: ``metrics[name] = (mean, std)``, std 0 for one run;
    ``leaking`` counts the runs whose splits share copies."""

    runs: int
    metrics: dict[str, tuple[float, float]]
    leaking: int = 0


def shown(runs: list[Run]) -> list[Run]:
    """The finished runs whose test metrics are compared."""
    return [run for run in runs if run.metrics is not None and not run.hidden]


def summarise(runs: list[Run]) -> dict[str, Summary]:
    """Per group, the mean and standard deviation of each test metric."""
    groups: dict[str, list[Run]] = {}
    for run in shown(runs):
        groups.setdefault(run.label or run.experiment, []).append(run)
    return {name: _summary(members) for name, members in sorted(groups.items())}


def _summary(members: list[Run]) -> Summary:
    metrics = {}
    for metric in METRICS:
        values = [run.metrics[metric] for run in members if metric in run.metrics]
        if values:
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            metrics[metric] = (statistics.fmean(values), spread)
    return Summary(len(members), metrics, sum(leaks(run) for run in members))


def markdown_table(summary: dict[str, Summary]) -> str:
    header = ["experiment", "runs", *(m.split("/")[-1] for m in METRICS)]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for name, result in summary.items():
        marked = f"{name} {LEAK_MARK}" if result.leaking else name
        cells = [marked, str(result.runs), *(_cell(result, m) for m in METRICS)]
        lines.append("| " + " | ".join(cells) + " |")
    if any(result.leaking for result in summary.values()):
        lines += [
            "",
            f"{LEAK_MARK}: the run's splits share copies or near copies (metrics.json "
            "data/leakage), so its test scores are optimistic; fracture-audit "
            "--write-clean-manifest makes a clean split.",
        ]
    return "\n".join(lines)


def _cell(result: Summary, metric: str) -> str:
    if metric not in result.metrics:
        return "-"
    mean, std = result.metrics[metric]
    return f"{mean:.3f} ± {std:.3f}" if result.runs > 1 else f"{mean:.3f}"


def write_outputs(
    out_dir: Path,
    runs: list[Run],
    summary: dict[str, Summary],
    markdown: str,
    paired: list[dict],
    pooled: dict[str, Pooled],
    intervals: dict[str, dict] | None = None,
) -> None:
    """``compare.md``, ``compare.csv`` (one row per run), ``compare_paired.csv``,
    ``compare.png`` (bars with the pooled bootstrap CIs of ``intervals``, runs as dots) and
    ``roc.png`` (pooled ROC per experiment)."""
    (out_dir / "compare.md").write_text(markdown + "\n")
    with open(out_dir / "compare.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["run", "experiment", "group", "seed", "status", "leaking", *METRICS])
        for run in runs:
            metrics = run.metrics or {}
            status = run.problem or (NOT_CHOSEN if run.hidden else "ok")
            tested = {} if run.hidden else metrics
            writer.writerow(
                safe_row(
                    [run.path.name, run.experiment, run.label, metrics.get("seed"), status]
                    + [leaks(run) if run.metrics is not None else None]
                    + [tested.get(m) for m in METRICS]
                )
            )
    with open(out_dir / "compare_paired.csv", "w", newline="") as handle:
        fields = [
            "a",
            "b",
            "images",
            "metric",
            "a_value",
            "b_value",
            "difference",
            "low",
            "high",
            "p_value",
            "test",
        ]
        writer = csv.DictWriter(handle, fields)
        writer.writeheader()
        writer.writerows({key: safe_cell(value) for key, value in row.items()} for row in paired)
    shown = [m for m in METRICS if all(m in v.metrics for v in summary.values())]
    if summary and shown:
        _bars_figure(runs, summary, intervals, shown).savefig(out_dir / "compare.png", dpi=120)
    if pooled:
        curves = {name: (p.probabilities, p.labels) for name, p in pooled.items()}
        roc_figure(curves).savefig(out_dir / "roc.png", dpi=120)


def _bars_figure(runs: list[Run], summary: dict[str, Summary], intervals, shown: list[str]):
    """compare.png: the pooled value and its bootstrap CI per experiment; without pooled
    predictions, the mean of the runs and no interval."""
    bars, seeds = {}, {}
    for name, result in summary.items():
        found = (intervals or {}).get(name, {})
        bars[name] = {m: _interval(found.get(m.split("/")[-1]), result.metrics[m]) for m in shown}
        finished = [r.metrics for r in runs if r.metrics is not None and r.experiment == name]
        seeds[name] = {m: [r[m] for r in finished if m in r] for m in shown}
    title = "pooled test predictions, 95 % bootstrap CI; dots: single runs"
    return metric_bars_figure(bars, shown, seeds, title)


def _interval(found: dict | None, summary: tuple[float, float]) -> tuple[float, float, float]:
    if found is None:
        return summary[0], float("nan"), float("nan")
    return found["value"], found["low"], found["high"]


def report(
    sweep_dirs: list[Path],
    resamples: int = 1000,
    seed: int = 0,
    baseline: str = "frozen",
    runs: list[Run] | None = None,
) -> str:
    """Compare the runs below ``sweep_dirs`` (or ``runs``, found there already), write the
    outputs into the first one."""
    runs = find_runs(sweep_dirs) if runs is None else runs
    choices = hide_unchosen_trials(runs)
    summary = summarise(runs)
    pooled = pooled_predictions(shown(runs))
    rows = paired_rows(pooled, resamples, seed, baseline)
    sections = [markdown_table(summary), *choices]
    if pooled:
        sections += [
            "Pooled test predictions, 95 % bootstrap CI:",
            interval_table(pooled, resamples, seed),
        ]
    if rows:
        sections += ["Paired on the same test images:", paired_table(rows)]
    markdown = "\n\n".join(sections)
    intervals = {name: pooled_intervals(p, resamples, seed) for name, p in pooled.items()}
    write_outputs(sweep_dirs[0], runs, summary, markdown, rows, pooled, intervals)
    lines = [markdown, ""]
    lines += [f"incomplete run {run.path}: {run.problem}" for run in runs if run.problem]
    lines += [
        f"wrote compare.md, compare.csv, compare_paired.csv and figures to {sweep_dirs[0]}",
        f"look at the runs: {console_command('tensorboard')} --logdir {shown_path(sweep_dirs[0])}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Console entry point ``fracture-compare``."""
    args = compare_parser().parse_args(argv)
    missing = [d for d in args.sweep_dirs if not d.is_dir()]
    if missing:
        sys.exit(f"fracture-compare: error: {missing[0]} is not a directory; pass a multirun dir")
    print(report(args.sweep_dirs, args.resamples, args.seed, args.baseline))


class CompareAfterMultirun(Callback):
    """Hydra callback: print the comparison table when a multirun ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        runs = find_runs([sweep_dir])
        print(report([sweep_dir], runs=runs), flush=True)
        failed = [run for run in runs if run.failed]
        if failed:
            # Every job ran; the exit status still tells scripts that some of them failed.
            raise SystemExit(f"fracture-train: {len(failed)} job(s) of the sweep failed")
