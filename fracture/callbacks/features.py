"""Train a frozen backbone's head on features computed once, not on images every epoch."""

from contextlib import contextmanager

import lightning as L
import torch
from lightning.pytorch.utilities.seed import isolate_rng
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fracture.callbacks.freeze import BackboneFreeze
from fracture.callbacks.gradcam import GradCamGrid
from fracture.errors import ConfigError
from fracture.trained.loop import numbered, run_batches

SPLITS = ("train", "val")  # the test split and the evaluation after fitting read images


class CachedFeatures(L.Callback):
    """Compute the backbone features of the train and val images once, at fit start, and
    train the head on them: an epoch then costs a linear layer instead of a backbone pass.

    This is the same experiment as training on the images (for the same seed: the same
    batches, order and head weights, within float rounding) only while the features cannot
    change, so it is refused unless the backbone stays frozen for the whole run
    (``finetune=frozen``) and the train images are not augmented (``data.augment=null``).
    Checkpoints hold the whole model, as always. See ``conf/experiment/frozen_features.yaml``.
    """

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "fit":
            _check_applicable(trainer)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning calls this after moving the model to its device and restoring a resumed
        # checkpoint's weights, and before the fit loop requests its dataloaders.
        if any(p.requires_grad for p in pl_module.backbone.parameters()):
            raise ConfigError("cached features need a frozen backbone: use finetune=frozen")
        datamodule = trainer.datamodule
        datamodule.use_features(None)  # the image loaders, also when fitting a second time
        loaders = {"train": datamodule.train_dataloader(), "val": datamodule.val_dataloader()}
        # The image path draws no random numbers here (loader iterators draw a seed).
        with isolate_rng():
            features = {split: _features(trainer, pl_module, loaders[split]) for split in SPLITS}
        datamodule.use_features(features)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "fit" and hasattr(trainer.datamodule, "use_features"):
            trainer.datamodule.use_features(None)  # free the features; images from now on


def _check_applicable(trainer: L.Trainer) -> None:
    """One-line refusals for runs in which cached features would change the experiment."""
    datamodule = trainer.datamodule
    if not hasattr(datamodule, "use_features"):
        raise ConfigError("cached features need a FractureDataModule (a data= config)")
    if datamodule.augment is not None:
        raise ConfigError(
            "cached features need data.augment=null (augmented images change every epoch, "
            "cached features would not); set it, or drop callbacks.cached_features"
        )
    freezes = [cb for cb in trainer.callbacks if isinstance(cb, BackboneFreeze)]
    if not freezes or any(cb.unfreeze_at_epoch is not None for cb in freezes):
        raise ConfigError(
            "cached features need a backbone frozen for the whole run (its features must not "
            "change): use finetune=frozen, or drop callbacks.cached_features"
        )
    if any(isinstance(cb, GradCamGrid) and cb.every_n_epochs > 0 for cb in trainer.callbacks):
        raise ConfigError(
            "cached features need callbacks.gradcam.every_n_epochs=0 (the validation loader "
            "serves features, not images)"
        )


def _features(trainer: L.Trainer, pl_module: L.LightningModule, loader: DataLoader):
    """``TensorDataset(features (N, F), labels (N,))`` of the loader's images, in item order."""
    datamodule, labels = trainer.datamodule, []

    def forward(images: torch.Tensor) -> torch.Tensor:  # (B, ...) on the module's device
        images = datamodule.on_after_batch_transfer((images, None), 0)[0]  # (B, 3, H, W)
        return pl_module.forward_features(images)  # (B, F)

    def batches():
        for images, batch_labels in _in_order(loader):
            labels.append(batch_labels)
            yield images, batch_labels

    with _eval_mode(pl_module.backbone), trainer.precision_plugin.forward_context():
        # the numerics of the image path
        outputs = run_batches(forward, numbered(batches()), len(loader.dataset), pl_module.device)
    return TensorDataset(outputs.values, torch.cat(labels))


def _in_order(loader: DataLoader) -> DataLoader:
    """One pass over the loader's dataset in item order, loaded as the loader loads it."""
    workers = loader.num_workers
    return DataLoader(
        loader.dataset,
        batch_size=loader.batch_size,
        num_workers=workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        prefetch_factor=loader.prefetch_factor if workers > 0 else None,
    )


@contextmanager
def _eval_mode(module: nn.Module):
    """Every submodule in eval mode (BatchNorm statistics fixed), then each back as it was."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training
