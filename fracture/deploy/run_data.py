"""The images of the run a checkpoint came from, as ``fracture-eval`` finds them: calibration
images from its training split, the accuracy gate's from its validation split."""

import numpy as np
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from fracture.data.dataset import RadiographDataset
from fracture.data.samples import Sample
from fracture.evaluation.cli import data_config
from fracture.trained.predictor import Predictor

CALIBRATION_SEED = 0  # which training images calibrate: the same ones every export


def run_data(predictor: Predictor):
    """The data module of the run of ``predictor``'s first checkpoint, set up: ``samples``
    holds each split's readable images."""
    datamodule = instantiate(data_config(OmegaConf.create({}), predictor.sources[0]))
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def calibration_samples(train: list[Sample], count: int) -> list[Sample]:
    """``count`` training samples drawn without replacement (all of them when fewer): a
    seeded draw, not the first ``count``, which folder order would fill with one class."""
    order = np.random.default_rng(CALIBRATION_SEED).permutation(len(train))[:count]
    return [train[i] for i in sorted(order)]


def loader(samples: list[Sample], predictor: Predictor, datamodule) -> DataLoader:
    """Batches ``(images, labels)`` of ``samples`` preprocessed as the model expects."""
    transform = predictor.preprocessing.eval_transform()
    dataset = RadiographDataset(samples, transform, datamodule.max_pixels)
    return DataLoader(dataset, datamodule.batch_size)
