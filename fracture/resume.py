"""Continue a run where it stopped: find its latest checkpoint, rebuild its config.

``fracture-train resume=<run dir>`` continues that run in the same directory (and the same
TensorBoard run) from its saved ``config.yaml``; ``ckpt_path=last`` resumes the run in
``paths.output_dir`` when it has a checkpoint and starts afresh when it has none, which is
what a requeued SLURM job wants.
"""

import logging
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from fracture.errors import ConfigError
from fracture.run_files import CHECKPOINT_DIR, CONFIG_FILE, LAST_CHECKPOINT

log = logging.getLogger(__name__)

LAST = "last"
_ABSENT = object()
# Written by ModelCheckpoint (conf/callbacks/default.yaml) after every epoch and by
# CheckpointOnSigterm on preemption; Lightning's SLURM requeue writes hpc_ckpt_<n>.ckpt.
_CANDIDATES = (f"{CHECKPOINT_DIR}/{LAST_CHECKPOINT}.ckpt", "hpc_ckpt_*.ckpt")


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The most recently written resumable checkpoint of a run, or ``None``."""
    found = [path for pattern in _CANDIDATES for path in Path(run_dir).glob(pattern)]
    return max(found, key=lambda path: path.stat().st_mtime_ns, default=None)


def resolve_ckpt_path(ckpt_path: str | None, run_dir: Path) -> str | None:
    """``last`` → the run directory's latest checkpoint (``None`` when there is none yet)."""
    if ckpt_path != LAST:
        return ckpt_path
    latest = latest_checkpoint(run_dir)
    if latest is None:
        log.info("ckpt_path=last: no checkpoint in %s yet, starting from the beginning", run_dir)
        return None
    log.info("resuming from %s", latest)
    return str(latest)


def resumed_config(run_dir: str | Path, overrides: list[str]) -> DictConfig:
    """The saved config of ``run_dir`` with ``overrides`` (e.g. ``trainer.max_epochs=20``)
    applied, set to continue from the run's latest checkpoint in the same directory."""
    run_dir = Path(run_dir).resolve()
    saved = run_dir / CONFIG_FILE
    if not saved.is_file():
        raise ConfigError(
            f"resume={run_dir}: no {CONFIG_FILE} there; pass the directory of a fracture-train run"
        )
    if latest_checkpoint(run_dir) is None:
        raise ConfigError(
            f"resume={run_dir}: the run has no checkpoint to resume from ({_CANDIDATES[0]})"
        )
    cfg = OmegaConf.load(saved)
    written_to = Path(cfg.paths.output_dir).resolve()
    if written_to != run_dir:
        # Its resolved config names the old place in checkpoint, logger and trainer paths:
        # resuming a copy would write into (and prune checkpoints of) the original.
        raise ConfigError(
            f"resume={run_dir}: this run was written to {written_to}; resume it there "
            "(a copied or moved run directory cannot be resumed)"
        )
    cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(_plain_overrides(cfg, overrides)))
    cfg.ckpt_path = LAST
    cfg.resume = None
    return cfg


def _plain_overrides(cfg: DictConfig, overrides: list[str]) -> list[str]:
    """``key=value`` overrides of existing values; anything that would recompose the run
    (a group choice such as ``trainer=ddp``, ``+key``, ``~key``) is refused."""
    for override in OverridesParser.create().parse_overrides(overrides):
        key = override.key_or_group
        if override.is_add() or override.is_force_add() or override.is_delete():
            raise ConfigError(
                f"resume: {override.input_line} adds or deletes a key; "
                "a resumed run keeps its config (only key=value changes)"
            )
        value = OmegaConf.select(cfg, key, default=_ABSENT)
        if value is _ABSENT or OmegaConf.is_config(value):
            raise ConfigError(
                f"resume: {override.input_line} is not a value of the run's "
                "config; only key=value changes, e.g. trainer.max_epochs=20"
            )
    return overrides
