"""Save the run's state when the job is told to stop (SIGTERM: preemption, scancel, kill)."""

from pathlib import Path

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException

from fracture.run_files import LAST_CHECKPOINT


class CheckpointOnSigterm(L.Callback):
    """On SIGTERM, write the current state as ``<dirpath>/<filename>.ckpt`` before exiting.

    Lightning turns SIGTERM into ``SIGTERMException`` at the next batch boundary, on every
    rank at once; this callback then saves, so ``ckpt_path=last`` / ``resume=<run dir>``
    keep the steps of the interrupted epoch instead of going back to its start (the rest
    of that epoch then draws from the start of its order again: Lightning cannot skip the
    batches already seen, so only epoch-end checkpoints resume exactly). Lightning writes
    checkpoints through a temporary file that replaces the old one only when complete, so
    a kill during the write leaves the previous checkpoint intact.

    Args:
        dirpath: The checkpoint folder of the run.
        filename: File name without ``.ckpt``; ``last`` is what resuming looks for.
    """

    def __init__(self, dirpath: str | Path, filename: str = LAST_CHECKPOINT):
        self.path = Path(dirpath) / f"{filename}.ckpt"

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        if isinstance(exception, SIGTERMException):
            trainer.save_checkpoint(self.path)
