"""Lightning callbacks: the freeze / unfreeze schedule and confusion-matrix figures."""

from fracture.callbacks.figures import ConfusionMatrixFigure
from fracture.callbacks.freeze import BackboneFreeze

__all__ = ["BackboneFreeze", "ConfusionMatrixFigure"]
