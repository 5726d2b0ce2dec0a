"""What a finished run prints: its results, where they are, and the commands that go on
from there, each ready to paste as printed (``.venv/bin/`` where the scripts are not on PATH)."""

import math
import os
import shutil
import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import OverrideParseException
from hydra.types import RunMode

from fracture.evaluation.summary import metrics_summary


def run_summary(metrics: dict, run_dir: Path, job: str | None = None) -> str:
    """The lines that end a run: test metrics with intervals, files, next commands.

    Args:
        metrics: The run's ``metrics.json``.
        run_dir: Its run directory.
        job: ``"job 2/4"`` inside a sweep, else ``None``.
    """
    lines = [f"{job} done" if job else "run done"]
    if metrics.get("threshold"):
        lines.append(metrics_summary(metrics, "test"))
    run = shown_path(run_dir)
    lines.append(f"run directory: {run}")
    if metrics.get("model"):  # the best checkpoint's weights with the chosen decision
        lines.append(f"trained model: {shown_path(run_dir / metrics['model'])}")
    elif metrics.get("best_checkpoint"):
        lines.append(f"best checkpoint: {shown_path(run_dir / metrics['best_checkpoint'])}")
    lines += ["next:", *(f"  {command}" for command in next_commands(run))]
    return "\n".join(lines)


def next_commands(run: str) -> list[str]:
    """Evaluate, predict, serve and look at a run, as commands to paste."""
    return [
        f"{console_command('tensorboard')} --logdir {run}",
        f"{console_command('fracture-eval')} ckpt={run}",
        f"{console_command('fracture-predict')} ckpt={run} inputs=<image folder>",
        f"{console_command('fracture-serve')} ckpt={run}",
    ]


def console_command(name: str) -> str:
    """``name`` as the user can type it: bare when PATH finds this environment's script,
    else its path (``.venv/bin/name`` from the project folder)."""
    script = Path(sys.executable).parent / name
    found = shutil.which(name)
    if found and Path(found).resolve() == script.resolve():
        return name
    return shown_path(script)


def shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it, else absolute."""
    absolute = Path(os.path.abspath(path))
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def sweep_job() -> str | None:
    """``"job k/N"`` inside a Hydra multirun (``"job k"`` when N is not known), else ``None``."""
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    hydra = HydraConfig.get()
    total = hydra.sweeper.get("n_trials") or _swept_jobs(sys.argv[1:])
    number = hydra.job.num + 1
    return f"job {number}/{total}" if total else f"job {number}"


def _swept_jobs(arguments: list[str]) -> int | None:
    # The basic sweeper runs the product of the command line's sweeps (seed=0,1,2 -> 3 jobs);
    # a job that runs in another process (submitit) has no such command line.
    try:
        overrides = OverridesParser.create().parse_overrides(
            [a for a in arguments if "=" in a and not a.startswith("-")]
        )
    except OverrideParseException:  # the count is only decoration
        return None
    sizes = [len(list(o.sweep_iterator())) for o in overrides if o.is_sweep_override()]
    return math.prod(sizes) if sizes else None
