"""Torchvision backbones by name, with their classification layer removed."""

import torch
import torchvision
from torch import nn

from fracture.errors import ConfigError
from fracture.models.adapter import drop_classifier, supports_zero_init_residual
from fracture.models.weights import IMAGENET, imagenet_model, load_file_weights


def build_backbone(
    name: str,
    weights: str | None = None,
    allow_download: bool = True,
    zero_init_residual: bool = False,
) -> tuple[nn.Module, int]:
    """Build a torchvision classifier without its final linear layer.

    Args:
        name: A torchvision classification model, e.g. ``"resnet50"``.
        weights: ``"imagenet"``, a path to a state dict or Lightning checkpoint, or ``None``
            for random initialisation.
        allow_download: Whether missing ImageNet weights may be fetched from the network.
        zero_init_residual: Start each ResNet residual branch at zero (its last BatchNorm
            scale = 0), so a deep network trained from scratch begins as a shallow one.

    Returns:
        The backbone, mapping images (N, 3, H, W) to features (N, F), and F.

    Raises:
        ConfigError: An unknown name, or ``zero_init_residual`` for a model other than a ResNet.
    """
    if name not in torchvision.models.list_models(module=torchvision.models):
        raise ConfigError(
            f"unknown backbone {name!r}; use a torchvision classification model such as resnet50"
        )
    options = _zero_init_option(name) if zero_init_residual else {}
    if weights == IMAGENET:
        backbone = imagenet_model(name, allow_download, **options)
    else:
        backbone = torchvision.models.get_model(name, weights=None, **options)
    num_features = drop_classifier(backbone, name)
    if weights not in (None, IMAGENET):
        load_file_weights(backbone, weights)
    return backbone, num_features


def _zero_init_option(name: str) -> dict:
    if not supports_zero_init_residual(name):
        raise ConfigError(
            f"model.zero_init_residual=true needs a ResNet, not {name}; "
            "set model.zero_init_residual=false"
        )
    return {"zero_init_residual": True}


@torch.no_grad()
def count_parameters(module: nn.Module) -> dict[str, int]:
    """Total, trainable and frozen parameter counts."""
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable, "frozen": total - trainable}
