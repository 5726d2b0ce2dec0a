"""A frozen epoch over images against one over cached backbone features (CachedFeatures)."""

import statistics

from hydra.utils import instantiate
from omegaconf import DictConfig

from fracture.bench.settings import BenchSettings
from fracture.bench.timing import EpochTimer
from fracture.bench.training import bare_trainer, build_model
from fracture.callbacks import CachedFeatures


def feature_epochs(cfg: DictConfig, settings: BenchSettings) -> dict:
    """Seconds of a frozen training epoch over the images (warm pixel cache, no augmentation)
    and over cached features, and the one-off cost of computing the features.

    Args:
        cfg: A config with ``finetune=frozen``.
        settings: ``feature_epochs`` gives the epochs over features (their median counts).
    """
    on_images = _fit(cfg, epochs=2, cached=False).epochs[-1]  # the second: workers started
    timer = _fit(cfg, epochs=settings.feature_epochs, cached=True)
    on_features = statistics.median(timer.epochs)
    return {
        "images_epoch_s": on_images,
        "features_epoch_s": on_features,
        "speedup": on_images / on_features,
        "compute_features_s": timer.train_start - timer.fit_start,  # train and val images
    }


def _fit(cfg: DictConfig, epochs: int, cached: bool) -> EpochTimer:
    timer = EpochTimer()  # first, so its fit start precedes the features' computation
    callbacks = [timer, instantiate(cfg.finetune), *([CachedFeatures()] if cached else [])]
    trainer = bare_trainer(cfg, callbacks, max_epochs=epochs)
    trainer.fit(build_model(cfg), datamodule=instantiate(cfg.data, augment=None))
    return timer
