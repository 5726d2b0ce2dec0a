"""Training-time augmentation of radiographs."""

from dataclasses import dataclass

from torchvision.transforms import v2

from fracture.data.preprocessing import Preprocessing


@dataclass(frozen=True)
class Augmentation:
    """Random geometry applied to training images only.

    No defaults here: they live once, in ``conf/data/_common.yaml`` (``data.augment``).

    Args:
        crop_scale: Area range of ``RandomResizedCrop``; keep the lower bound high enough
            that a crop rarely cuts the fracture out of a *fractured* image.
        crop_ratio: Aspect-ratio range of the crop.
        hflip: Probability of a horizontal flip (left and right limbs look alike).
        rotation: Maximum rotation in degrees, either way (bilinear; corners fill black).
    """

    crop_scale: tuple[float, float]
    crop_ratio: tuple[float, float]
    hflip: float
    rotation: float

    def transform(self, preprocessing: Preprocessing, uint8: bool = False) -> v2.Compose:
        """The training pipeline: the fit's resize, augmentation, then the tensor convention
        of eval.

        The random crop takes its share of the fitted image: with ``fit=crop`` of the whole
        image at ``resize_size`` (the centre crop of eval is one of its draws), with ``pad``
        of the letterboxed square, with ``resize`` of the stretched one.

        Args:
            preprocessing: Fit, image size and normalisation.
            uint8: Stop at the uint8 (1, H, W) crop, for ``data.normalize_on_device``.
        """
        return v2.Compose(
            [
                v2.ToImage(),
                preprocessing.fit_transform(),  # a no-op on a pixel cache entry
                v2.RandomResizedCrop(
                    preprocessing.image_size,
                    scale=tuple(self.crop_scale),
                    ratio=tuple(self.crop_ratio),
                    antialias=True,
                ),
                v2.RandomHorizontalFlip(self.hflip),
                # Bilinear: nearest-neighbour turns thin fracture lines into staircases.
                v2.RandomRotation(self.rotation, interpolation=v2.InterpolationMode.BILINEAR),
                *([] if uint8 else preprocessing.to_model_input()),
            ]
        )
