"""Console and ``train.log``: one stream of plain lines, which Hydra's handlers write to both."""

import logging
import sys
import time
import warnings

from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only

from fracture.errors import ConfigError


class ConsoleFormatter(logging.Formatter):
    """The message alone, as a command-line tool prints it; warnings and errors say so."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {text}"


def route_lightning_logs() -> None:
    """Send Lightning's lines ("GPU available", "Restoring states", ...) through the root
    handlers that Hydra set up, so ``train.log`` holds what the console showed, once.

    Lightning gives its loggers handlers of their own (and stops ``lightning.pytorch``
    propagating) when it is imported before logging is configured, as the scripts import it.
    """
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_drop_advertisement)


def _drop_advertisement(record: logging.LogRecord) -> bool:
    # Lightning 2.6 prints a tip for its hosted logging service on every run; it says
    # nothing about the run.
    return not record.getMessage().startswith("💡 Tip")


def quiet_known_warnings() -> None:
    """Filter third-party warnings that are known to be harmless here; each says why."""
    # Lightning 2.6's own pytree helper uses LeafSpec, which torch 2.14 deprecates; nothing
    # a user can change, and it repeats for every run.
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
    # A frozen backbone's groups are put in eval mode on purpose (BackboneFreeze: frozen
    # BatchNorm statistics must not move); Lightning warns about any module in eval mode.
    warnings.filterwarnings(
        "ignore", message=r".*module\(s\) in eval mode at the start of training"
    )


class EpochLines(Logger):
    """One plain line per epoch (``epoch 3: train/loss 0.412 val_epoch/loss 0.398
    val_epoch/auroc 0.912 (41.2 s)``) where the console is not a terminal (CI, ``tee``, SLURM
    logs), in which a progress bar shows only its last state. Through logging, so
    ``train.log`` has them too.

    A logger, not a callback: Lightning hands loggers epoch metrics that it has already
    computed and synced on every rank, so printing them issues no collective of its own.

    Args:
        when: ``"not_a_terminal"`` (default), ``"always"`` or ``"never"``.
    """

    def __init__(self, when: str = "not_a_terminal"):
        super().__init__()
        if when not in ("not_a_terminal", "always", "never"):
            raise ConfigError(f"EpochLines when={when!r}; use not_a_terminal, always or never")
        self.enabled = when == "always" or (when == "not_a_terminal" and not sys.stdout.isatty())
        self._validation: dict[str, float] = {}
        self._started = time.perf_counter()

    @property
    def name(self) -> str:
        return "epoch_lines"

    @property
    def version(self) -> str:
        return ""

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        pass

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        if not self.enabled:
            return
        epoch_end = {k: v for k, v in metrics.items() if not k.endswith("_step")}
        # Validation ends before the training epoch does; its line waits for the train metrics.
        self._validation.update({k: v for k, v in epoch_end.items() if k.startswith("val_epoch/")})
        train = {k: v for k, v in epoch_end.items() if k.startswith("train/")}
        if train and "epoch" in metrics:
            self._print_line(int(metrics["epoch"]), {**train, **self._validation})

    def _print_line(self, epoch: int, values: dict[str, float]) -> None:
        shown = sorted(k for k in values if k.split("/")[1].removesuffix("_epoch") in _SHOWN)
        text = " ".join(f"{k.removesuffix('_epoch')} {values[k]:.3f}" for k in shown)
        seconds, self._started = time.perf_counter() - self._started, time.perf_counter()
        logging.getLogger("fracture").info("epoch %d: %s (%.1f s)", epoch + 1, text, seconds)
        self._validation = {}


_SHOWN = ("loss", "acc", "auroc", "f1")  # per epoch; the run's summary has the rest
