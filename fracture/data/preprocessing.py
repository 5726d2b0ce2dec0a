"""Preprocessing that travels with the checkpoint, so inference never disagrees with training."""

from dataclasses import asdict, dataclass

import torch
from torchvision.transforms import v2

from fracture.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FITS = ("crop", "pad", "resize")  # how an image becomes the model's square (data.fit)


@dataclass(frozen=True)
class Preprocessing:
    """How an image file becomes a model input (the decision is ``fracture.models.decision``).

    Args:
        image_size: Side of the square image the model sees.
        resize_size: Shortest side after resizing, before the centre crop (``fit="crop"``).
        mean: Per-channel normalisation mean (ImageNet's by default).
        std: Per-channel normalisation standard deviation.
        fit: How the image becomes a square: ``"crop"`` (shortest side to ``resize_size``,
            centre crop: the ends of a long film are cut off), ``"pad"`` (longest side to
            ``image_size``, black bars: the whole film, smaller) or ``"resize"`` (stretched
            to the square: the whole film, distorted). Checkpoints from before this
            setting existed were trained with ``"crop"``.
    """

    image_size: int = 224
    resize_size: int = 256
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    fit: str = "crop"

    def __post_init__(self):
        if self.fit not in FITS:
            raise ConfigError(f"data.fit={self.fit!r} is unknown; use one of {', '.join(FITS)}")

    def to_dict(self) -> dict:
        """Plain JSON-ready values (lists, not tuples), for checkpoints and sidecar files."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> "Preprocessing":
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        tuples = {k: tuple(v) for k, v in known.items() if k in ("mean", "std")}
        return cls(**{**known, **tuples})

    def eval_transform(self, uint8: bool = False) -> v2.Compose:
        """Deterministic fit to the square, then the tensor convention of training.

        Args:
            uint8: Stop at the uint8 (1, S, S) image; the model then converts whole batches on
                its device with :meth:`batch_to_model_input` (``data.normalize_on_device``).
        """
        return v2.Compose(
            [
                v2.ToImage(),
                self.fit_transform(),
                v2.CenterCrop(self.image_size),  # a no-op after pad and resize
                *([] if uint8 else self.to_model_input()),
            ]
        )

    def fit_transform(self) -> torch.nn.Module:
        """The resize step of :attr:`fit` (what the pixel cache stores; training augments
        its output). Applied to its own output it returns it unchanged."""
        if self.fit == "crop":
            return v2.Resize(self.resize_size, antialias=True)
        if self.fit == "pad":
            return LetterBox(self.image_size)
        return v2.Resize([self.image_size, self.image_size], antialias=True)

    def fitted_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) of an image after :meth:`fit_transform`, before any crop."""
        if self.fit == "resize":
            return self.image_size, self.image_size
        if self.fit == "pad":
            return self.image_size, self.image_size  # after the black bars
        short = min(width, height)  # torchvision: the long side becomes int(r * long / short)
        return self.resize_size * width // short, self.resize_size * height // short

    @property
    def fit_settings(self) -> str:
        """Everything that shapes :meth:`fit_transform`'s pixels (pixel cache keys)."""
        # crop keeps the key it had before data.fit existed: existing caches stay valid.
        return str(self.resize_size) if self.fit == "crop" else f"{self.fit} {self.image_size}"

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


class LetterBox(torch.nn.Module):
    """The whole image in a ``size`` x ``size`` square: the longest side scaled to ``size``
    (antialiased bilinear; the other side ``size * short // long``), then black bars on
    both sides of the short one, the odd pixel on the left or top."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        # (..., H, W) uint8 or float; torchvision keeps the tv_tensors.Image type.
        height, width = image.shape[-2:]
        longest = max(height, width)
        scaled = [max(1, self.size * side // longest) for side in (height, width)]
        if scaled != [height, width]:
            image = v2.functional.resize(image, scaled, antialias=True)
        bar_h, bar_w = self.size - scaled[0], self.size - scaled[1]
        left, top = (bar_w + 1) // 2, (bar_h + 1) // 2
        return v2.functional.pad(image, [left, top, bar_w - left, bar_h - top], fill=0)
