"""Callbacks that tests add by config (``+callbacks.<name>._target_=tests.callbacks...``);
importable by spawned DDP ranks."""

import os
import signal
from pathlib import Path

import lightning as L
import torch


class SaveRankWeights(L.Callback):
    """Each rank saves its weights when fitting starts and when it ends."""

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


def load_ranks(dirpath, when):
    return [torch.load(dirpath / f"rank{r}-{when}.pt", weights_only=True) for r in (0, 1)]


def assert_ranks_identical(dirpath) -> None:
    end = load_ranks(dirpath, "end")
    floats = [k for k, v in end[0].items() if v.is_floating_point()]
    assert all(torch.equal(end[0][k], end[1][k]) for k in floats), "ranks drifted apart"


class SignalAt(L.Callback):
    """Send this process ``signum`` before the given batch of the given epoch (a preemption:
    SIGTERM, or SLURM's requeue warning SIGUSR1)."""

    def __init__(self, epoch: int, batch: int, signum: int = signal.SIGTERM):
        self.epoch, self.batch, self.signum = epoch, batch, signum

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if (trainer.current_epoch, batch_idx) == (self.epoch, self.batch):
            os.kill(os.getpid(), self.signum)


class MismatchedCollectives(L.Callback):
    """At the end of the first training epoch rank 0 issues an all_reduce and the other ranks
    an all_gather: the collectives of issue 18 (rank 0's progress bar syncing Lightning's
    metrics, rank 1 gathering torchmetrics states), which wait for each other forever."""

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.current_epoch != 0:
            return
        value = torch.zeros(1, device=pl_module.device)
        if trainer.global_rank == 0:
            torch.distributed.all_reduce(value)
        else:
            torch.distributed.all_gather(
                [torch.zeros_like(value) for _ in range(trainer.world_size)], value
            )
