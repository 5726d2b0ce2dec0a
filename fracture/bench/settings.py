"""What one benchmark run measures, and the presets that size it for a machine."""

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class BenchSettings:
    """Sizes of a benchmark run.

    Args:
        images: Train images generated (val and test get an eighth each, at least 16).
        size: Side of the generated square images, in pixels.
        image_format: ``png`` or ``jpeg``.
        image_size: Model input side (224: ImageNet's).
        backbone: Torchvision backbone of the model.
        batch_size: Images per batch, for the data path, training and inference alike.
        workers: DataLoader workers of both data paths; ``None``: the usable cores.
        steps: Training and inference steps measured, after ``warmup`` unmeasured ones.
        warmup: Steps run first and not measured (allocation, cuDNN autotuning).
        rounds: Times the plain loop and Lightning alternate; their steps are pooled.
        feature_epochs: Epochs over cached features (their median is reported).
        device: ``cpu`` or ``cuda``.
        normalize_on_device: fracture's loaders yield uint8 and the model normalises on its
            device (``data.normalize_on_device``); the step comparison always feeds float.
        seed: Seeds the images and the models.
    """

    images: int = 256
    size: int = 1024
    image_format: str = "png"
    image_size: int = 224
    backbone: str = "resnet50"
    batch_size: int = 16
    workers: int | None = None
    steps: int = 5
    warmup: int = 2
    rounds: int = 2
    feature_epochs: int = 3
    device: str = "cpu"
    normalize_on_device: bool = False
    seed: int = 0

    @property
    def resize_size(self) -> int:
        """Shortest side before the centre crop: 256 for 224, the ImageNet ratio."""
        return round(self.image_size * 256 / 224)

    @property
    def cuda(self) -> bool:
        return self.device == "cuda"


PRESETS = {
    # About 3.5 minutes on 2 CPU cores, plus 1.5 to generate the images (once per --data).
    "cpu-quick": BenchSettings(),
    # One H100 (or any recent NVIDIA GPU) with 16 cores, bf16: under five minutes.
    "h100": BenchSettings(
        images=4096,
        batch_size=256,
        steps=30,
        warmup=5,
        feature_epochs=5,
        device="cuda",
        normalize_on_device=True,
    ),
    # Seconds: checks that every measurement runs; the numbers mean nothing.
    "smoke": BenchSettings(
        images=16,
        size=64,
        image_size=32,
        backbone="resnet18",
        batch_size=4,
        workers=0,
        steps=2,
        warmup=1,
        rounds=1,
        feature_epochs=2,
    ),
}


def preset(name: str, **overrides) -> BenchSettings:
    """The preset ``name`` with the given fields replaced (``None`` values are ignored)."""
    settings = replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})
    import torch  # here, not at the top: `fracture-bench --help` must not wait for torch

    if settings.cuda and not torch.cuda.is_available():
        raise SystemExit("fracture-bench: error: --device cuda, but torch sees no CUDA GPU")
    return settings
