"""The Lightning internals fracture relies on, in one place.

Lightning's public API has no word for these; each is named here once, so that a Lightning
upgrade that moves one breaks this module and ``tests/test_lightning_compat.py``, which
checks every one against the installed Lightning, instead of a callback in the middle of a
run. Tested with Lightning 2.6 (the range in pyproject.toml).
"""

import lightning as L
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from lightning.pytorch.strategies import DDPStrategy
from torch.nn.parallel import DistributedDataParallel

__all__ = [
    "HOOK_CALLERS",
    "LOOPS_PATH",
    "UnrepeatedDistributedSampler",
    "attached_trainer",
    "next_epoch",
    "rewrap_ddp",
]

# Lightning's functions that call a hook (lightning.pytorch.trainer.call): in a traceback,
# the frame after the last of them is the hook that was running.
HOOK_CALLERS = frozenset(
    {
        "_call_callback_hooks",
        "_call_lightning_module_hook",
        "_call_lightning_datamodule_hook",
        "_call_strategy_hook",
    }
)
# Where Lightning's loops live, as a traceback shows their files.
LOOPS_PATH = "lightning/pytorch/loops/"


def next_epoch(trainer: L.Trainer | None) -> int:
    """The epoch the fit loop runs next (the number it passes to ``set_epoch``), also before
    ``current_epoch`` moves past an epoch-end checkpoint on a resume; 0 without a trainer."""
    return trainer.fit_loop.epoch_progress.current.processed if trainer is not None else 0


def attached_trainer(module: L.LightningModule) -> L.Trainer | None:
    """The module's trainer, or None (``module.trainer`` raises when there is none)."""
    return module._trainer


def rewrap_ddp(trainer: L.Trainer) -> None:
    """Wrap the module in a new DistributedDataParallel, which registers the parameters that
    require gradients now (DDP fixes its set of parameters when it wraps a module)."""
    strategy = trainer.strategy
    if isinstance(strategy, DDPStrategy) and isinstance(strategy.model, DistributedDataParallel):
        strategy.model = strategy.lightning_module
        strategy.configure_ddp()
