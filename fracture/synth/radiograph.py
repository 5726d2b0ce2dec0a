"""Composes anatomy, fracture and imaging chain into one synthetic radiograph.

Every random number is drawn before anything is rendered and in the same order
whether or not the image is fractured, so ``fractured=True`` and ``False`` on
equal generator states give images that differ only around the fracture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fracture.synth.acquisition import (
    add_noise,
    burn_marker,
    display,
    draw_acquisition,
    exposure,
    gaussian_blur,
)
from fracture.synth.anatomy import (
    Limb,
    bone_attenuation,
    bone_frame,
    bow_offset,
    chord,
    draw_limb,
    tissue_attenuation,
    to_image,
    upsample,
)
from fracture.synth.fractures import Fracture, draw_fracture, fractured_attenuation


@dataclass(frozen=True)
class Rendering:
    """A radiograph and where its fracture is (or would be, for a healthy image).

    Args:
        image: ``uint8`` array of shape ``(size, size)``.
        kind: Fracture kind (see ``fracture.synth.fractures.KINDS``, or ``"subtle"``);
            ``None`` for a healthy image.
        center: ``(x, y)`` pixel position where the fracture line crosses the bone axis.
        axis: Unit ``(x, y)`` vector along the fractured bone, pointing to its distal part.
    """

    image: np.ndarray
    kind: str | None
    center: tuple[float, float]
    axis: tuple[float, float]


def render_radiograph(
    rng: np.random.Generator, size: int, fractured: bool, subtle_fraction: float
) -> np.ndarray:
    """Renders one synthetic long-bone radiograph.

    Args:
        rng: Source of every random choice; its state fully determines the image.
        size: Side of the square image in pixels.
        fractured: Whether the image shows a fracture.
        subtle_fraction: Chance that a fracture is a thin, low-contrast hairline.

    Returns:
        ``uint8`` array of shape ``(size, size)``; bone is bright, air dark.
    """
    return render_with_kind(rng, size, fractured, subtle_fraction).image


def render_with_kind(
    rng: np.random.Generator, size: int, fractured: bool, subtle_fraction: float
) -> Rendering:
    """Like :func:`render_radiograph`, but also says which fracture it drew and where."""
    limb = draw_limb(rng)
    fracture = draw_fracture(rng, limb.bones, subtle_fraction)
    acq = draw_acquisition(rng, _peak_attenuation(limb))
    normal = rng.standard_normal((size, size))

    x, y = _grid(size)
    shown = fracture if fractured else None
    attenuation = tissue_attenuation(limb, x, y) + _bones(limb, shown, x, y)
    signal = gaussian_blur(exposure(attenuation, acq, x, y), acq.blur * size)
    level = burn_marker(display(add_noise(signal, acq, normal), acq), acq)
    image = np.round(level * 255.0).astype(np.uint8)
    center, axis = _locate(limb, fracture, size)
    return Rendering(image, fracture.kind if fractured else None, center, axis)


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres in image-side units, origin at the image centre; (H, W) each."""
    ticks = (np.arange(size) + 0.5) / size - 0.5
    x, y = np.meshgrid(ticks, ticks)
    return x, y


def _bones(limb: Limb, fracture: Fracture | None, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    total = np.zeros_like(x)
    texture = 0.4 * upsample(limb.trabeculae, x.shape[0])
    for index, bone in enumerate(limb.bones):
        s, d = bone_frame(bone, x, y)
        if fracture is not None and fracture.bone == index:
            total += fractured_attenuation(bone, fracture, s, d, texture)
        else:
            total += bone_attenuation(bone, s, d, texture)
    return total


def _peak_attenuation(limb: Limb) -> float:
    """Tissue plus the brightest cortex line of the main bone: sets the display window."""
    bone = limb.bones[0]
    tissue = limb.density * 2 * limb.half_width * (limb.fat_ratio + 0.45 * (1 - limb.fat_ratio))
    canal = bone.radius * bone.canal_ratio
    return tissue + bone.density * float(chord(np.float64(bone.radius), canal))


def _locate(limb: Limb, fracture: Fracture, size: int):
    """Pixel position of the first cut on the bone axis, and the distal axis direction."""
    bone = limb.bones[fracture.bone]
    s = fracture.cuts[0].offset
    x, y = to_image(bone.center, bone.angle, s, float(bow_offset(bone, s)))
    axis = (float(np.cos(bone.angle)), float(np.sin(bone.angle)))
    return ((x + 0.5) * size - 0.5, (y + 0.5) * size - 0.5), axis
