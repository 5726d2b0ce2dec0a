"""The exploratory figures of the original workflow: class distribution and augmented samples."""

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from fracture.data.augmentation import Augmentation
from fracture.data.decode import read_radiograph
from fracture.data.preprocessing import Preprocessing
from fracture.data.samples import Sample
from fracture.labels import CLASS_NAMES


def class_distribution_figure(counts: dict[str, dict]) -> Figure:
    """Bars of readable images per split and class, with the count on each bar."""
    figure = Figure(figsize=(5.0, 3.4), layout="constrained")
    axes = figure.add_subplot()
    splits = list(counts)
    positions = np.arange(len(splits))
    for index, name in enumerate(CLASS_NAMES):
        values = [counts[split][name] for split in splits]
        bars = axes.bar(positions + (index - 0.5) * 0.4, values, 0.4, label=name)
        axes.bar_label(bars, fontsize=8)
    axes.set_xticks(positions, splits)
    axes.set(ylabel="images", title="class distribution")
    axes.legend()
    return figure


def augmented_samples_figure(
    samples: Sequence[Sample],
    augment: Augmentation | None,
    preprocessing: Preprocessing,
    max_pixels: int,
    per_image: int = 4,
) -> Figure:
    """Each row: one training image and ``per_image`` random augmentations of it, as trained on
    (the eval preprocessing when augmentation is off)."""
    transform = augment.transform(preprocessing) if augment else preprocessing.eval_transform()
    figure = Figure(figsize=(1.6 * per_image, 1.7 * len(samples)), layout="constrained")
    grid = figure.subplots(len(samples), per_image, squeeze=False)
    for row, sample in zip(grid, samples, strict=True):
        image = read_radiograph(sample.path, max_pixels)
        for column, axes in enumerate(row):
            axes.imshow(_displayable(transform(image), preprocessing), cmap="gray", vmin=0, vmax=1)
            axes.set_axis_off()
            if column == 0:
                axes.set_title(
                    f"{CLASS_NAMES[sample.label]}: {sample.path.name}", fontsize=7, loc="left"
                )
    return figure


def _displayable(tensor: torch.Tensor, preprocessing: Preprocessing) -> np.ndarray:
    """Undo the normalisation of channel 0: what the model sees, in [0, 1]."""
    return (tensor[0] * preprocessing.std[0] + preprocessing.mean[0]).clamp(0, 1).numpy()


def pick_examples(samples: Sequence[Sample], count: int = 6) -> list[Sample]:
    """Up to ``count`` samples, alternating classes and spread over the split."""
    picked = []
    for label in (1, 0):
        members = [s for s in samples if s.label == label]
        step = max(len(members) // max(count // 2, 1), 1)
        picked += members[::step][: count // 2]
    return picked
