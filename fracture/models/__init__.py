"""Models: torchvision backbones, pretrained weights, metrics and the LightningModule."""

from fracture.models.classifier import FractureClassifier

__all__ = ["FractureClassifier"]
