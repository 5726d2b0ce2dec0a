"""Preprocessing that travels with the checkpoint, so inference never disagrees with training."""

from dataclasses import asdict, dataclass, field

import torch
from torchvision.transforms import v2

from fracture.labels import CLASS_NAMES

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """How an image file becomes a model input, and how an output becomes a decision.

    Args:
        image_size: Side of the square crop the model sees.
        resize_size: Shortest side after resizing, before the centre crop (eval only).
        mean: Per-channel normalisation mean (ImageNet's by default).
        std: Per-channel normalisation standard deviation.
        class_names: Class names in index order; index 1 is *fractured*.
        threshold: Probability of *fractured* at or above which the decision is *fractured*
            (chosen on the validation split after training, by ``evaluation.threshold``).
        temperature: Logits are divided by it before the softmax (1.0: no calibration;
            fitted on the validation split when ``evaluation.temperature_scaling`` is on).
    """

    image_size: int = 224
    resize_size: int = 256
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    class_names: tuple[str, ...] = field(default=CLASS_NAMES)
    threshold: float = 0.5
    temperature: float = 1.0

    def to_dict(self) -> dict:
        """Plain JSON-ready values (lists, not tuples), for checkpoints and sidecar files."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> "Preprocessing":
        tuples = {k: tuple(v) for k, v in values.items() if k in ("mean", "std", "class_names")}
        return cls(**{**values, **tuples})

    def eval_transform(self, uint8: bool = False) -> v2.Compose:
        """Deterministic resize and centre crop, then the tensor convention of training.

        Args:
            uint8: Stop at the uint8 (1, H, W) crop; the model then converts whole batches on
                its device with :meth:`batch_to_model_input` (``data.normalize_on_device``).
        """
        return v2.Compose(
            [
                v2.ToImage(),
                v2.Resize(self.resize_size, antialias=True),
                v2.CenterCrop(self.image_size),
                *([] if uint8 else self.to_model_input()),
            ]
        )

    def to_model_input(self) -> list:
        """uint8 grayscale (1xHxW) → normalised float32 3xHxW, the ImageNet convention."""
        return [
            v2.ToDtype(torch.float32, scale=True),
            GrayToRGB(),
            v2.Normalize(mean=list(self.mean), std=list(self.std)),
        ]

    def batch_to_model_input(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, 1, H, W) → float32 (N, 3, H, W), as :meth:`to_model_input` does per image."""
        return v2.Compose(self.to_model_input())(images)


class GrayToRGB(torch.nn.Module):
    """Repeat a single grayscale channel three times (the backbone expects RGB)."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        # (..., 1, H, W) → (..., 3, H, W): single images and batches alike.
        return (
            image.expand(*image.shape[:-3], 3, *image.shape[-2:]) if image.shape[-3] == 1 else image
        )
