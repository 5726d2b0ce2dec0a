"""Grad-CAM overlays of a fixed set of validation images, logged to TensorBoard during training."""

import math
from itertools import zip_longest

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from matplotlib.figure import Figure
from PIL import Image

from fracture.errors import ConfigError
from fracture.inference.explain import (
    METHODS,
    class_activation_maps,
    model_view,
    overlay_image,
)
from fracture.labels import CLASS_NAMES, FRACTURED, NOT_FRACTURED

TAG = "val_epoch/gradcam"
_COLUMNS = 4


class GradCamGrid(L.Callback):
    """Every few validation epochs, log CAM overlays of the first validation images.

    The images are the first ``num_images`` of the validation set, fractured and not
    fractured in turn, so the grid follows the same images through training. Runs on rank 0
    and leaves the model as it found it (see :mod:`fracture.inference.explain`).

    Args:
        every_n_epochs: Log after every n-th validation epoch; 0 turns the callback off.
        num_images: How many validation images the grid shows.
        method: A CAM method of :data:`fracture.inference.explain.METHODS`.
    """

    def __init__(self, every_n_epochs: int = 0, num_images: int = 8, method: str = "gradcam"):
        if every_n_epochs < 0 or num_images < 1:
            raise ConfigError(
                f"GradCamGrid needs every_n_epochs >= 0 and num_images >= 1, "
                f"not {every_n_epochs} and {num_images}"
            )
        if method not in METHODS:
            raise ConfigError(f"unknown CAM method {method!r}; use one of {', '.join(METHODS)}")
        self.every_n_epochs = every_n_epochs
        self.num_images = num_images
        self.method = method
        self._examples: tuple[torch.Tensor, list[int]] | None = None

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._due(trainer):
            return
        # Validation runs in inference mode; images loaded here must be ordinary tensors
        # (the CAM itself switches gradients back on).
        with torch.inference_mode(False):
            examples = self._load_examples(trainer, pl_module)
            if examples is None:
                return
            figure = _grid_figure(pl_module, *examples, self.method)
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_figure(TAG, figure, trainer.global_step, close=False)

    def _due(self, trainer: L.Trainer) -> bool:
        return (
            self.every_n_epochs > 0
            and not trainer.sanity_checking
            and trainer.is_global_zero
            and (trainer.current_epoch + 1) % self.every_n_epochs == 0
            and any(isinstance(logger, TensorBoardLogger) for logger in trainer.loggers)
        )

    def _load_examples(
        self, trainer: L.Trainer, pl_module: L.LightningModule
    ) -> tuple[torch.Tensor, list[int]] | None:
        if self._examples is None:
            dataset = _val_dataset(trainer)
            if dataset is None or len(dataset) == 0:
                return None
            items = [dataset[i] for i in _pick(dataset, self.num_images)]
            images = torch.stack([image for image, _ in items])
            if images.dtype == torch.uint8:  # data.normalize_on_device: the model converts
                images = pl_module.preprocessing.batch_to_model_input(images)
            self._examples = (images, [y for _, y in items])
        return self._examples


def _val_dataset(trainer: L.Trainer):
    loaders = trainer.val_dataloaders
    if isinstance(loaders, list | tuple):
        loaders = loaders[0] if loaders else None
    return getattr(loaders, "dataset", None)


def _pick(dataset, count: int) -> list[int]:
    """Indices of the first images of each class in turn (fractured first)."""
    samples = getattr(dataset, "samples", None)
    if samples is None:  # labels unknown without loading every image: take the first ones
        return list(range(min(count, len(dataset))))
    by_class = [
        [i for i, sample in enumerate(samples) if sample.label == label]
        for label in (FRACTURED, NOT_FRACTURED)
    ]
    turns = [i for pair in zip_longest(*by_class) for i in pair if i is not None]
    return turns[:count]


def _grid_figure(pl_module, images: torch.Tensor, labels: list[int], method: str) -> Figure:
    images = images.to(pl_module.device)
    decision = pl_module.decision
    with torch.no_grad():
        logits = pl_module(images) / decision.temperature
    probabilities = logits.softmax(dim=1)[:, FRACTURED].tolist()
    cams = class_activation_maps([pl_module], images, method)
    views = model_view(images, pl_module.preprocessing)
    overlays = [
        overlay_image(view, cam, p, decision.threshold)
        for view, cam, p in zip(views, cams, probabilities, strict=True)
    ]
    return _figure(overlays, [f"true: {CLASS_NAMES[y]}" for y in labels])


def _figure(overlays: list[Image.Image], titles: list[str]) -> Figure:
    columns = min(_COLUMNS, len(overlays))
    rows = math.ceil(len(overlays) / columns)
    figure = Figure(figsize=(2.5 * columns, 2.7 * rows), layout="constrained")
    for index, (overlay, title) in enumerate(zip(overlays, titles, strict=True)):
        axes = figure.add_subplot(rows, columns, index + 1)
        axes.imshow(overlay)
        axes.set_title(title, fontsize=9)
        axes.axis("off")
    return figure
