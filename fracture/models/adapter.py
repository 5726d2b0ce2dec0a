"""What the package knows about each torchvision model family, in one place.

Every backbone is the torchvision model itself with its last Linear replaced by ``Identity``
(so checkpoints keep torchvision's key names). This module gives, for any of them:

* ``drop_classifier``: removes that Linear and returns the feature width (timm's
  ``num_features``);
* ``layer_groups``: named groups of modules, input to output, that fine-tuning freezes and
  unfreezes as a whole. Together they hold every parameter of the backbone exactly once:

  =================  ==========================================================
  family             groups
  =================  ==========================================================
  ResNet, ResNeXt    ``stem`` (conv1, bn1), ``layer1`` .. ``layer4``
  DenseNet           ``stem`` (conv0, norm0), ``denseblock1`` .. ``denseblock4``
                     (each with the transition after it; the last with norm5)
  EfficientNet       ``stem`` (features.0), ``stage1`` .. ``stageN`` (features.1 ..;
                     the last with the final 1x1 conv and the classifier's dropout)
  ConvNeXt           ``stem``, ``stage1`` .. ``stage4`` (each with the downsampling
                     before it; the last with the classifier's LayerNorm)
  any other          its top-level children that hold parameters
  =================  ==========================================================

* ``cam_layer``: the layer whose activations Grad-CAM weighs (the last channels-first map);
* ``supports_zero_init_residual``: whether the builder takes ``zero_init_residual``.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torchvision
from torch import nn
from torchvision.models import ConvNeXt, DenseNet, EfficientNet, ResNet, SwinTransformer

from fracture.errors import ConfigError

Groups = dict[str, list[nn.Module]]


def drop_classifier(model: nn.Module, name: str) -> int:
    """Replace ``model``'s final Linear by ``Identity`` in place; return its input width."""
    # ResNet-like models end in `fc`; DenseNet in `classifier`; EfficientNet, ConvNeXt, ... in
    # a `classifier` Sequential whose last layer is the Linear; ViT in `heads`.
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


def layer_groups(backbone: nn.Module) -> Groups:
    """The backbone's named layer groups, from the input to the head (table above)."""
    return _family(backbone).groups(backbone)


def cam_layer(backbone: nn.Module) -> nn.Module:
    """The layer Grad-CAM looks at: the backbone's last channels-first feature map.

    Raises:
        ConfigError: For backbones without one (Swin's maps are (N, H, W, C), ViT's tokens).
    """
    layer = _family(backbone).cam_layer(backbone)
    if layer is None:
        raise ConfigError(
            f"class activation maps need a convolutional backbone; {type(backbone).__name__} "
            f"has no convolutional last stage (use a ResNet, DenseNet, EfficientNet, ConvNeXt)"
        )
    return layer


def supports_zero_init_residual(name: str) -> bool:
    """Whether torchvision's builder of ``name`` takes ``zero_init_residual`` (ResNets)."""
    builder = torchvision.models.get_model_builder(name)
    return builder.__module__ == ResNet.__module__


@dataclass(frozen=True)
class _Family:
    groups: Callable[[nn.Module], Groups]
    cam_layer: Callable[[nn.Module], nn.Module | None]


def _resnet_groups(model: ResNet) -> Groups:
    stages = {f"layer{i}": [getattr(model, f"layer{i}")] for i in range(1, 5)}
    return {"stem": [model.conv1, model.bn1], **stages}


def _densenet_groups(model: DenseNet) -> Groups:
    features = model.features
    groups = {"stem": [features.conv0, features.norm0]}
    for i in range(1, 5):
        # A transition (BN, 1x1 conv, pool) narrows the block before it: it travels with it.
        transition = getattr(features, f"transition{i}", features.norm5)
        groups[f"denseblock{i}"] = [getattr(features, f"denseblock{i}"), transition]
    return groups


def _efficientnet_groups(model: EfficientNet) -> Groups:
    # features: the stem conv, the MBConv stages, then a 1x1 conv to num_features.
    stem, *stages, last_conv = model.features
    groups = {"stem": [stem], **{f"stage{i}": [s] for i, s in enumerate(stages, start=1)}}
    groups[f"stage{len(stages)}"] += [last_conv, model.classifier]
    return groups


def _convnext_groups(model: ConvNeXt) -> Groups:
    # features: stem, stage, then (downsampling, stage) three times.
    stem, first, *rest = model.features
    groups = {"stem": [stem], "stage1": [first]}
    for i in range(0, len(rest), 2):
        groups[f"stage{i // 2 + 2}"] = [rest[i], rest[i + 1]]
    groups[f"stage{len(groups) - 1}"].append(model.classifier)  # its LayerNorm2d
    return groups


def _children_groups(model: nn.Module) -> Groups:
    return {
        name: [module]
        for name, module in model.named_children()
        if any(True for _ in module.parameters())
    }


# Attributes holding the last convolutional stage of other families: RegNet's trunk, and the
# `features` Sequential of MobileNet, VGG, SqueezeNet, ...
_STAGES = ("layer4", "trunk_output", "features")


def _named_last_stage(model: nn.Module) -> nn.Module | None:
    if isinstance(model, SwinTransformer):  # its stages give (N, H, W, C) maps
        return None
    stage = next((getattr(model, n) for n in _STAGES if hasattr(model, n)), None)
    return stage[-1] if isinstance(stage, nn.Sequential) else stage


_FAMILIES = {
    ResNet: _Family(_resnet_groups, lambda m: m.layer4[-1]),
    # DenseNet's forward applies ReLU after norm5: the map is the last BatchNorm's output.
    DenseNet: _Family(_densenet_groups, lambda m: m.features.norm5),
    EfficientNet: _Family(_efficientnet_groups, lambda m: m.features[-1]),
    ConvNeXt: _Family(_convnext_groups, lambda m: m.features[-1]),
}
_OTHER = _Family(_children_groups, _named_last_stage)


def _family(model: nn.Module) -> _Family:
    return next((f for cls, f in _FAMILIES.items() if isinstance(model, cls)), _OTHER)
