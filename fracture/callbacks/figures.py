"""The validation confusion matrix, as a TensorBoard figure per epoch."""

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger

from fracture.figures import confusion_matrix_figure


class ConfusionMatrixFigure(L.Callback):
    """Log each epoch's validation confusion matrix (threshold 0.5) to TensorBoard.

    The test split's matrix, at the chosen threshold, is the evaluation's
    (``confusion_matrix.png`` in the run directory and ``test/confusion_matrix``).
    """

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        # Computed by Lightning with the epoch's other metrics, over all ranks.
        matrix = trainer.callback_metrics.get("val_epoch/confusion_matrix")
        if matrix is None:
            return
        figure = confusion_matrix_figure(matrix.cpu(), pl_module.decision.class_names, "val")
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_figure(
                    "val_epoch/confusion_matrix", figure, trainer.global_step, close=False
                )
