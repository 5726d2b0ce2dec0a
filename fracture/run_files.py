"""The files of a run directory that every later tool reads."""

import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"


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
