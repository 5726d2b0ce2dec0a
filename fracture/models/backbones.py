"""Torchvision backbones by name, with their classification layer removed."""

import torch
import torchvision
from torch import nn

from fracture.errors import ConfigError
from fracture.models.weights import load_backbone_weights


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
    """
    if name not in torchvision.models.list_models(module=torchvision.models):
        raise ConfigError(
            f"unknown backbone {name!r}; use a torchvision classification model such as resnet50"
        )
    options = {"zero_init_residual": True} if zero_init_residual else {}
    backbone = torchvision.models.get_model(name, weights=None, **options)
    num_features = _drop_classifier(backbone, name)
    if weights is not None:
        load_backbone_weights(backbone, name, weights, allow_download)
    return backbone, num_features


def _drop_classifier(model: nn.Module, name: str) -> int:
    # ResNet-like models end in `fc`; DenseNet in `classifier`; EfficientNet, ConvNeXt, ... in
    # a `classifier` Sequential whose last layer is the Linear.
    for attribute in ("fc", "classifier", "heads"):
        layer = getattr(model, attribute, None)
        if isinstance(layer, nn.Linear):
            setattr(model, attribute, nn.Identity())
            return layer.in_features
        if isinstance(layer, nn.Sequential) and isinstance(layer[-1], nn.Linear):
            in_features = layer[-1].in_features
            layer[-1] = nn.Identity()
            return in_features
    raise ConfigError(f"backbone {name!r} has no final Linear layer to replace; choose a ResNet")


def backbone_layer_names(backbone: nn.Module) -> list[str]:
    """Names of the backbone's top-level layers that hold parameters (``layer3``, ...)."""
    return [
        name for name, module in backbone.named_children() if any(True for _ in module.parameters())
    ]


@torch.no_grad()
def count_parameters(module: nn.Module) -> dict[str, int]:
    """Total, trainable and frozen parameter counts."""
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable, "frozen": total - trainable}
