"""Lightning callbacks: the freeze / unfreeze schedule, confusion-matrix and Grad-CAM figures."""

from fracture.callbacks.figures import ConfusionMatrixFigure
from fracture.callbacks.freeze import BackboneFreeze
from fracture.callbacks.gradcam import GradCamGrid

__all__ = ["BackboneFreeze", "ConfusionMatrixFigure", "GradCamGrid"]
