"""Callbacks the distributed tests add by config; importable by spawned DDP ranks."""

from pathlib import Path

import lightning as L
import torch


class SaveRankWeights(L.Callback):
    """Each rank saves its weights at the start and at the end of fitting."""

    def __init__(self, dirpath: str):
        self.dirpath = Path(dirpath)

    def on_fit_start(self, trainer, pl_module):
        self._save(trainer, pl_module, "start")

    def on_train_end(self, trainer, pl_module):
        self._save(trainer, pl_module, "end")

    def _save(self, trainer, pl_module, when: str) -> None:
        self.dirpath.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}
        torch.save(state, self.dirpath / f"rank{trainer.global_rank}-{when}.pt")
