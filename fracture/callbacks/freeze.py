"""Freeze the backbone, then optionally unfreeze chosen layers at a chosen epoch.

"Frozen" here means frozen: frozen parameters get no gradient *and* frozen BatchNorm
layers stay in eval mode, so their running statistics never move. (Lightning's
``BaseFinetuning.freeze`` keeps BatchNorm statistics updating by default.) The whole frozen
layer group stays in eval mode, so its dropout and stochastic depth (EfficientNet, ConvNeXt)
are off too: a frozen group computes what it computes at inference, the same features in
every epoch (the ones ``CachedFeatures`` computes once). LayerNorm has no running statistics;
its frozen parameters simply get no gradient.

Layers are the backbone adapter's groups (``fracture.models.adapter``: ``layer1`` ..
``layer4`` for a ResNet, ``denseblock1`` .. for a DenseNet, ``stage1`` .. for EfficientNet and
ConvNeXt), or a number N for the last N groups, which means the same for every backbone.

Under DDP the unfreeze rebuilds the DistributedDataParallel wrapper. DDP registers the
parameters that require a gradient when it wraps the model; parameters unfrozen later
would get gradients that no rank shares, and the ranks' weights would drift apart. The
alternatives were worse: keeping the backbone in the reducer with a zero learning rate
computes and all-reduces a full backward pass in every frozen epoch (what a frozen run
must not cost) and gives "frozen" parameters gradients; ``find_unused_parameters`` does
not help, since it only covers parameters registered at wrap time. Rebuilding happens once,
at the same epoch on every rank, and re-broadcasts rank 0's (identical) weights.
"""

from collections.abc import Sequence

import lightning as L
from torch import nn

from fracture.errors import ConfigError
from fracture.lightning_compat import rewrap_ddp
from fracture.models.adapter import layer_groups

ALL_LAYERS = "all"


class BackboneFreeze(L.Callback):
    """Train the head alone, then fine-tune named backbone layers with their own learning rate.

    Args:
        unfreeze_at_epoch: Epoch at whose start ``layers`` are unfrozen; ``None`` keeps the
            backbone frozen for the whole run (a linear probe).
        layers: Layer groups to unfreeze (``["layer3", "layer4"]``), N for the last N groups
            (nearest the head), or ``"all"``.
        lr_factor: Learning rate of the unfrozen layers as a factor of the head's.
    """

    def __init__(
        self,
        unfreeze_at_epoch: int | None = None,
        layers: str | int | Sequence[str] = ALL_LAYERS,
        lr_factor: float = 0.1,
    ):
        if unfreeze_at_epoch is not None and unfreeze_at_epoch < 0:
            raise ConfigError(f"unfreeze_at_epoch={unfreeze_at_epoch} must be >= 0 or null")
        if lr_factor <= 0:
            raise ConfigError(f"lr_factor={lr_factor} must be > 0")
        self.unfreeze_at_epoch = unfreeze_at_epoch
        # `finetune.layers=layer4` on the command line is a string, not a list of one.
        single = isinstance(layers, int) or layers == ALL_LAYERS
        self.layers = layers if single else [layers] if isinstance(layers, str) else list(layers)
        self.lr_factor = lr_factor
        self.unfrozen = False

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        self._selected_modules(pl_module)  # fail on a bad layer name before any training
        pl_module.backbone.requires_grad_(False)
        # In eval from the start, not only from the first epoch: the model summary printed at
        # fit start then shows the frozen groups as the run will train them.
        _keep_frozen_groups_in_eval(pl_module.backbone)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Resuming after the unfreeze epoch: the checkpoint's optimizer state has the
        # backbone group, so recreate it before Lightning loads that state.
        if self.unfrozen:
            self._unfreeze(trainer, pl_module)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        due = self.unfreeze_at_epoch is not None and trainer.current_epoch >= self.unfreeze_at_epoch
        if due and not self.unfrozen:
            self._unfreeze(trainer, pl_module)
            self.unfrozen = True
        _keep_frozen_groups_in_eval(pl_module.backbone)

    def _unfreeze(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        params = []
        for module in self._selected_modules(pl_module):
            module.requires_grad_(True)
            module.train(pl_module.training)  # its BatchNorm layers learn again
            params += list(module.parameters())
        rewrap_ddp(trainer)
        optimizer = trainer.optimizers[0]
        head = optimizer.param_groups[0]
        optimizer.add_param_group(
            {
                "params": params,
                "name": "backbone",
                # Follow the head's schedule so far: its current and its initial rate.
                "lr": head["lr"] * self.lr_factor,
                "initial_lr": head.get("initial_lr", head["lr"]) * self.lr_factor,
            }
        )
        for config in trainer.lr_scheduler_configs:
            # Schedulers keep one base rate per group; a group added later needs its own.
            if hasattr(config.scheduler, "base_lrs"):
                config.scheduler.base_lrs.append(optimizer.param_groups[-1]["initial_lr"])

    def _selected_modules(self, pl_module: L.LightningModule) -> list[nn.Module]:
        backbone = pl_module.backbone
        if self.layers == ALL_LAYERS:
            return [backbone]
        groups = layer_groups(backbone)
        return [module for name in _chosen(self.layers, list(groups)) for module in groups[name]]

    def state_dict(self) -> dict:
        return {"unfrozen": self.unfrozen}

    def load_state_dict(self, state_dict: dict) -> None:
        self.unfrozen = state_dict["unfrozen"]


def _chosen(layers: int | list[str], available: list[str]) -> list[str]:
    if isinstance(layers, int):
        if not 1 <= layers <= len(available):
            raise ConfigError(
                f"finetune.layers={layers} must count 1 to {len(available)} of the last "
                f"backbone layer groups {available}; or name them, or use 'all'"
            )
        return available[-layers:]
    unknown = [name for name in layers if name not in available]
    if unknown:
        raise ConfigError(
            f"unknown backbone layers {unknown} in finetune.layers; "
            f"choose from {available}, a number of last groups, or 'all'"
        )
    return layers


def _keep_frozen_groups_in_eval(backbone: nn.Module) -> None:
    for modules in layer_groups(backbone).values():
        if not any(p.requires_grad for module in modules for p in module.parameters()):
            for module in modules:
                module.eval()
