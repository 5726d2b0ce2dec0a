"""Which runs ``fracture-compare`` pools, which it shows, and which it marks.

* **Like with like.** Runs are grouped by what differs between them: the experiment name
  plus every override (``.hydra/overrides.yaml``) whose value is not the same in all
  finished runs, except the seed and the settings that only say where or how a run ran
  (``RUN_ONLY``). ``-m experiment=frozen,finetune seed=0,1,2`` gives two groups of three;
  ``-m finetune.lr_factor=0.1,1.0`` two groups, never one experiment of "runs".
* **Test scores never choose a trial.** In an Optuna sweep (its ``.hydra/hydra.yaml``
  names the Optuna sweeper) only the trial chosen on its ``optimized_metric`` (a validation
  metric, in the sweep's direction) shows test metrics; the others are listed with their
  validation score only.
* **Leaking runs are marked** (``LEAK_MARK``): their ``data/leakage`` record counts copies or
  near copies across splits, so their test scores are optimistic.
"""

from dataclasses import dataclass
from pathlib import Path

import yaml

# Overrides that do not change what is trained or tested (besides "seed", which the runs of
# one group differ by on purpose).
RUN_ONLY = (
    "seed",
    "hydra",
    "paths",
    "resume",
    "data.cache_dir",
    "data.num_workers",
    "data.prefetch_factor",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "allow_frozen_random",  # silences the frozen-random warning; trains the same
)
LEAK_MARK = "⚠leak"


@dataclass
class Run:
    """A run directory as ``fracture-compare`` reads it."""

    path: Path
    metrics: dict | None  # None when the run left no metrics.json
    problem: str = ""
    failed: bool = False  # the run recorded an error (error.json)
    label: str = ""  # its group in the comparison (set by compare_runs.label_runs)
    hidden: bool = False  # an Optuna trial not chosen on validation: no test metrics shown

    @property
    def experiment(self) -> str:
        return (self.metrics or {}).get("experiment") or "?"


def label_runs(runs: list[Run]) -> None:
    """Set ``run.label`` of every finished run: its name and the overrides that differ."""
    finished = [run for run in runs if run.metrics is not None]
    settings = [_overrides(run.path) for run in finished]
    keys = sorted({key for s in settings for key in s} - {"experiment"})
    differing = [key for key in keys if len({s.get(key) for s in settings}) > 1]
    for run, values in zip(finished, settings, strict=True):
        shown = [f"{key}={values[key]}" for key in differing if key in values]
        run.label = f"{run.experiment} ({', '.join(shown)})" if shown else run.experiment


def leaks(run: Run) -> bool:
    """Whether the run recorded copies or near copies across its splits."""
    record = (run.metrics or {}).get("data/leakage") or {}
    return bool(record.get("exact") or record.get("near"))


def hide_unchosen_trials(runs: list[Run]) -> list[str]:
    """Hide the test metrics of every Optuna trial but the one chosen on validation.

    Returns:
        One line per Optuna sweep saying which trial was chosen, on what.
    """
    sweeps: dict[Path, list] = {}
    for run in runs:
        if run.metrics is not None and _optuna_direction(run.path):
            sweeps.setdefault(run.path.parent, []).append(run)
    return [_choose(trials) for _, trials in sorted(sweeps.items())]


def _choose(trials: list[Run]) -> str:
    metric = _optimized_metric(trials[0].path)
    sign = 1 if _optuna_direction(trials[0].path) == "maximize" else -1
    scored = [t for t in trials if isinstance(t.metrics.get(metric), (int, float))]
    best = max(scored, key=lambda t: sign * t.metrics[metric]) if scored else None
    for trial in trials:
        trial.hidden = trial is not best
    if best is None:
        return f"Optuna sweep {trials[0].path.parent}: no trial has {metric}; test metrics hidden"
    return (
        f"Optuna sweep {best.path.parent}: trial {best.path.name} chosen on {metric} = "
        f"{best.metrics[metric]:.4f}; the test metrics of the other {len(trials) - 1} trial(s) "
        "are not shown (choosing on them would overfit the test set)"
    )


def _overrides(run_dir: Path) -> dict[str, str]:
    """The run's command-line overrides that change what is trained or tested."""
    path = run_dir / ".hydra" / "overrides.yaml"
    lines = yaml.safe_load(path.read_text()) if path.is_file() else []
    found = {}
    for line in lines or []:
        key, _, value = str(line).lstrip("+").partition("=")
        if not any(key == k or key.startswith((f"{k}.", f"{k}/")) for k in RUN_ONLY):
            found[key] = value
    return found


def _hydra_sweeper(run_dir: Path) -> dict:
    path = run_dir / ".hydra" / "hydra.yaml"
    if not path.is_file():
        return {}
    return (yaml.safe_load(path.read_text()) or {}).get("hydra", {}).get("sweeper") or {}


def _optuna_direction(run_dir: Path) -> str | None:
    sweeper = _hydra_sweeper(run_dir)
    return sweeper.get("direction") if "optuna" in str(sweeper.get("_target_", "")) else None


def _optimized_metric(run_dir: Path) -> str | None:
    path = run_dir / "config.yaml"
    config = yaml.safe_load(path.read_text()) if path.is_file() else None
    return (config or {}).get("optimized_metric")
