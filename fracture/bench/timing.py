"""Wall-clock timers: Lightning callbacks for steps and epochs, and a device sync."""

import itertools
import time

import lightning as L
import torch


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so a wall-clock time covers it (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepTimer(L.Callback):
    """Per training step: wall time since the previous step ended, how much of it went to
    waiting for the batch (loading, transfer, Lightning's hooks in between), and the loss."""

    def __init__(self):
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.losses: list[float] = []

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.ends.append(time.perf_counter())  # the first step's wait starts here

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        self.starts.append(time.perf_counter())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.losses.append(float(outputs["loss"]))  # waits for the device, as .item() does
        sync(pl_module.device)
        self.ends.append(time.perf_counter())

    def step_times(self) -> list[float]:
        return [end - previous for previous, end in itertools.pairwise(self.ends)]

    def wait_times(self) -> list[float]:
        # ends[i] is when step i began waiting (the previous step's end, or train start).
        return [start - previous for previous, start in zip(self.ends, self.starts, strict=False)]


class EpochTimer(L.Callback):
    """Seconds of every training epoch, and from fit start to the first epoch (set-up such as
    computing cached features, when this callback comes first)."""

    def __init__(self):
        self.epochs: list[float] = []
        self.fit_start = self.train_start = self._epoch_start = 0.0

    def on_fit_start(self, trainer, pl_module) -> None:
        self.fit_start = time.perf_counter()

    def on_train_start(self, trainer, pl_module) -> None:
        self.train_start = time.perf_counter()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._epoch_start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        sync(pl_module.device)
        self.epochs.append(time.perf_counter() - self._epoch_start)
