"""Embedded synthetic radiographs of long bones, fractured or not, for demos and tests."""

from fracture.synth.dataset import ensure_dataset, generate_dataset
from fracture.synth.radiograph import Rendering, render_radiograph, render_with_kind
from fracture.synth.spec import SyntheticSpec

__all__ = [
    "Rendering",
    "SyntheticSpec",
    "ensure_dataset",
    "generate_dataset",
    "render_radiograph",
    "render_with_kind",
]
