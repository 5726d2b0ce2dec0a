"""Confusion-matrix figures for TensorBoard and the run directory."""

from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger

from fracture.figures import confusion_matrix_figure


class ConfusionMatrixFigure(L.Callback):
    """Log the val and test confusion matrices to TensorBoard; save the test one as a PNG.

    Args:
        dirpath: Where ``confusion_matrix.png`` of the test split is written; ``None`` skips it.
    """

    def __init__(self, dirpath: str | Path | None = None):
        self.dirpath = Path(dirpath) if dirpath is not None else None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._publish(trainer, pl_module, "val")

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        figure = self._publish(trainer, pl_module, "test")
        if figure is not None and self.dirpath is not None and trainer.is_global_zero:
            self.dirpath.mkdir(parents=True, exist_ok=True)
            figure.savefig(self.dirpath / "confusion_matrix.png", dpi=120)

    def _publish(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str):
        # Computed by Lightning with the epoch's other metrics, over all ranks.
        matrix = trainer.callback_metrics.get(f"{stage}/confusion_matrix")
        if matrix is None:
            return None
        figure = confusion_matrix_figure(matrix.cpu(), pl_module.preprocessing.class_names, stage)
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_figure(
                    f"{stage}/confusion_matrix", figure, trainer.global_step, close=False
                )
        return figure
