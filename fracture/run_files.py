"""The files of a run directory that every later tool reads."""

import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.csv"  # one row per image: fracture.prediction_table
# The evaluation's figures, written as <name>.png beside metrics.json.
FIGURES = ("confusion_matrix", "roc", "pr", "reliability")
CHECKPOINT_DIR = "checkpoints"
# The checkpoint file names, as conf/callbacks/default.yaml gives them to Lightning's
# ModelCheckpoint (tests/test_run_layout.py keeps the YAML and these names the same).
BEST_CHECKPOINT = "best-epoch{epoch:02d}"  # the best epoch on the monitored metric
BEST_CHECKPOINT_GLOB = "best-*.ckpt"
LAST_CHECKPOINT = "last"  # after every epoch and on preemption: where a resume starts
# The run's trained model, written once after training: the best checkpoint's weights with the
# decision chosen on validation (fracture.trained.checkpoints.save_trained_model).
MODEL_FILE = "model.ckpt"


def write_config(run_dir: Path, cfg: DictConfig) -> None:
    """Save the resolved config, so a run can be understood without its command line."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CONFIG_FILE).write_text(OmegaConf.to_yaml(cfg, resolve=True))


def write_metrics(run_dir: Path, metrics: dict) -> None:
    """Write ``metrics.json`` (atomically: readers never see half a file)."""
    partial = run_dir / f".{METRICS_FILE}.tmp"
    partial.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    partial.replace(run_dir / METRICS_FILE)


def read_metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / METRICS_FILE).read_text())


ERROR_FILE = "error.json"
TRACEBACK_FILE = "error.txt"


def write_failure(run_dir: Path, error: BaseException, trace: str) -> None:
    """Record why a run failed (``error.json`` + the traceback in ``error.txt``), so a sweep
    can go on and ``fracture-compare`` can list the failure."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / TRACEBACK_FILE).write_text(trace)
    record = {"error": f"{type(error).__name__}: {error}", "traceback": TRACEBACK_FILE}
    (run_dir / ERROR_FILE).write_text(json.dumps(record, indent=2) + "\n")


def read_failure(run_dir: Path) -> str | None:
    """The recorded error of a failed run, or ``None``."""
    path = run_dir / ERROR_FILE
    return json.loads(path.read_text())["error"] if path.is_file() else None


def clear_failure(run_dir: Path) -> None:
    """Forget an earlier failure of a run that has now finished (e.g. after a resume)."""
    for name in (ERROR_FILE, TRACEBACK_FILE):
        (run_dir / name).unlink(missing_ok=True)
