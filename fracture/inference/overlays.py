"""Grad-CAM overlay PNGs for predicted images, written only inside one output folder."""

import re
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image

from fracture.data.decode import read_radiograph
from fracture.inference.explain import explain, model_view, overlay_image
from fracture.inference.predict import ImagePrediction
from fracture.trained.predictor import Predictor

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_BATCH = 16


def overlay_name(index: int, path: Path) -> str:
    """``00012_<stem>.png``: numbered (unique) and stripped of anything path-like."""
    return f"{index:05d}_{_UNSAFE.sub('_', path.stem)[:60]}.png"


def write_overlays(
    predictor: Predictor,
    results: Sequence[ImagePrediction],
    out_dir: Path,
    method: str = "gradcam",
    device: str | torch.device = "cpu",
    max_pixels: int | None = None,
) -> None:
    """One overlay per readable image into ``out_dir``; sets each result's ``overlay``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    readable = [(i, r) for i, r in enumerate(results) if r.probability is not None]
    for start in range(0, len(readable), _BATCH):
        _write_batch(
            predictor, readable[start : start + _BATCH], out_dir, method, device, max_pixels
        )


def _write_batch(predictor, batch, out_dir: Path, method: str, device, max_pixels) -> None:
    transform = predictor.preprocessing.eval_transform()
    kwargs = {"max_pixels": max_pixels} if max_pixels else {}
    images = torch.stack([transform(read_radiograph(r.path, **kwargs)) for _, r in batch])
    predictor.model.to(device)
    probabilities = [r.probability for _, r in batch]
    overlays = overlay_images(predictor, images.to(device), probabilities, method)
    for (index, result), overlay in zip(batch, overlays, strict=True):
        name = overlay_name(index, result.path)
        overlay.save(out_dir / name)
        result.overlay = f"{out_dir.name}/{name}"


def overlay_images(
    predictor: Predictor,
    images: torch.Tensor,
    probabilities: Sequence[float],
    method: str = "gradcam",
) -> list[Image.Image]:
    """Captioned Grad-CAM overlays of the model's view of each image.

    Args:
        predictor: The model that predicted, on the device of ``images``.
        images: Normalised model inputs (N, 3, S, S).
        probabilities: P(fractured) of each image, for the caption.
        method: A key of :data:`fracture.inference.explain.METHODS`.
    """
    cams = explain(predictor, images, method)
    views = model_view(images, predictor.preprocessing)
    return [
        overlay_image(view, cam, probability, predictor.threshold)
        for view, cam, probability in zip(views, cams, probabilities, strict=True)
    ]
