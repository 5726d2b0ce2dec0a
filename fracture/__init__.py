"""Bone X-ray fracture classification with PyTorch Lightning and Hydra."""

__version__ = "0.1.0"
