"""TensorBoard as a reader opens it: the run's curves first, one HPARAMS row per run.

TensorBoard sorts scalar groups (the tag up to its first ``/``) alphabetically. The groups
``test`` and ``val`` (the final results at the chosen threshold, one point each, as in
``metrics.json``), ``train`` and ``val_epoch`` (per-epoch curves at 0.5) keep their
``group/name`` keys; everything else Lightning logs (``epoch``, ``lr-Adam``, ``params/*``) goes
under ``z_schedule/`` so that it sorts after them instead of opening the page.
"""

from collections.abc import Mapping

from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

SCHEDULE = "z_schedule"
# Curves (train/*, val_epoch/*: per epoch at 0.5) and results (test/*, val/*: the best
# checkpoint at its chosen threshold, one point each, the names of metrics.json).
_KEPT_GROUPS = ("train", "val_epoch", "val", "test")
# The HPARAMS columns: what tells runs of a comparison or a sweep apart (not _target_s, paths
# or worker counts), as column name -> config path. TensorBoard sorts the columns by name and
# ticks only the first five, so the names put the fine-tuning recipe first.
HPARAMS = {
    "experiment": "name",
    "finetune/layers": "finetune.layers",
    "finetune/lr_factor": "finetune.lr_factor",
    "finetune/unfreeze_at_epoch": "finetune.unfreeze_at_epoch",
    "head_lr": "model.optimizer.lr",
    "input/balance": "data.balance",
    "input/batch_size": "data.batch_size",
    "input/image_size": "data.image_size",
    "model/backbone": "model.backbone",
    "model/weights": "model.weights",
    "seed": "seed",
    "trainer/max_epochs": "trainer.max_epochs",
}


class OrderedTensorBoardLogger(TensorBoardLogger):
    """Lightning's TensorBoard logger with the non-stage scalar groups sorted last."""

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        super().log_metrics({tensorboard_tag(k): v for k, v in metrics.items()}, step)


def tensorboard_tag(key: str) -> str:
    """``train/loss`` stays; ``epoch`` becomes ``z_schedule/epoch``."""
    return key if key.split("/")[0] in _KEPT_GROUPS else f"{SCHEDULE}/{key}"


def curated_hparams(cfg: DictConfig) -> dict:
    """The ``HPARAMS`` values of a run, as TensorBoard can show them (numbers or strings)."""
    values = {}
    for column, path in HPARAMS.items():
        value = OmegaConf.select(cfg, path, default=None)
        if OmegaConf.is_config(value):
            value = OmegaConf.to_container(value, resolve=True)
        values[column] = value if isinstance(value, int | float | str) else str(value)  # lists
    return values


def final_metrics(metrics: dict) -> dict:
    """The HPARAMS metric columns: the test and validation results of ``metrics.json``, under
    its names (the per-epoch curves are ``val_epoch/*``)."""
    return {
        key: value
        for key, value in metrics.items()
        if isinstance(value, float) and key.startswith(("test/", "val/"))
    }
