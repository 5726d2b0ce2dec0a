"""Lightning callbacks: the freeze / unfreeze schedule, cached features, confusion-matrix and
Grad-CAM figures."""

from fracture.callbacks.features import CachedFeatures
from fracture.callbacks.figures import ConfusionMatrixFigure
from fracture.callbacks.freeze import BackboneFreeze
from fracture.callbacks.gradcam import GradCamGrid
from fracture.callbacks.preemption import CheckpointOnSigterm

__all__ = [
    "BackboneFreeze",
    "CachedFeatures",
    "CheckpointOnSigterm",
    "ConfusionMatrixFigure",
    "GradCamGrid",
]
