"""From attenuation to an 8-bit radiograph: exposure, blur, noise, collimation, marker.

The chain follows a digital X-ray: the detector sees ``exp(-gain * attenuation)``,
darkened by the anode heel effect and by the collimator outside the field; focal
spot and detector blur it; photon counting adds noise whose spread grows with the
signal; the log of the exposure is windowed and tone-mapped for display, and a
lead "L"/"R" marker shows up bright in a corner. None of it depends on the class.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont


@dataclass(frozen=True)
class Acquisition:
    """Per-image settings of the imaging chain; lengths in image-side units."""

    gain: float  # scales all attenuation (beam energy, patient size)
    heel: tuple[float, float]  # strength and direction of the heel-effect gradient
    blur: float  # Gaussian sigma
    noise: float  # photon noise at full exposure
    window: tuple[float, float]  # log-exposure mapped to black and to white
    tone: float  # strength of the film-like shoulder of the display curve
    gamma: float
    field: tuple[float, float, float, float]  # collimator insets: left, top, right, bottom
    unexposed: float  # exposure left behind the collimator blades
    marker: tuple[str, int, float, float]  # letter, corner 0-3, height, brightness


def draw_acquisition(rng: np.random.Generator, peak: float) -> Acquisition:
    """Draws the imaging chain; ``peak`` is the scene's typical bone-plus-tissue attenuation."""
    gain = rng.uniform(0.8, 1.25)
    # Most images are uncollimated on a given side.
    insets = np.where(rng.random(4) < 0.7, 0.0, rng.uniform(0.02, 0.08, 4))
    return Acquisition(
        gain=gain,
        heel=(rng.uniform(0.0, 0.3), rng.uniform(0.0, 2 * np.pi)),
        blur=rng.uniform(0.004, 0.008),
        noise=rng.uniform(0.01, 0.03),
        window=(rng.uniform(-0.2, 0.1), gain * peak * rng.uniform(0.95, 1.3)),
        tone=rng.uniform(0.2, 1.2),
        gamma=rng.uniform(0.75, 1.3),
        field=tuple(insets),
        unexposed=rng.uniform(0.1, 0.3),
        marker=(
            "LR"[int(rng.integers(2))],
            int(rng.integers(4)),
            rng.uniform(0.08, 0.12),
            rng.uniform(0.85, 1.0),
        ),
    )


def exposure(attenuation: np.ndarray, acq: Acquisition, x: np.ndarray, y: np.ndarray):
    """Detector exposure in (0, 1]: beam through the body, heel gradient, collimator.

    Behind the collimator blades only scatter arrives: a flat, low exposure that hides
    the anatomy.
    """
    strength, direction = acq.heel
    heel = 1.0 + strength * (x * np.cos(direction) + y * np.sin(direction))
    field = _field(acq, x, y)
    return field * np.exp(-acq.gain * attenuation) * heel + (1.0 - field) * acq.unexposed


def _field(acq: Acquisition, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """1 inside the collimated field, 0 outside, with a narrow penumbra at the blades."""
    soft = 0.004
    inside = np.ones_like(x)
    for inset, coord in zip(acq.field, (x, y, -x, -y), strict=True):
        if inset > 0:
            inside = inside * np.clip((coord + 0.5 - inset) / soft + 0.5, 0.0, 1.0)
    return inside


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur with ``sigma`` in pixels, kernel cut at 3 sigma, edges repeated."""
    radius = max(1, int(3 * sigma + 0.5))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    return _convolve(_convolve(image, taps, 0), taps, 1)


def _convolve(image: np.ndarray, taps: np.ndarray, axis: int) -> np.ndarray:
    radius = len(taps) // 2
    image = np.moveaxis(image, axis, 0)
    padded = np.concatenate([image[:1].repeat(radius, 0), image, image[-1:].repeat(radius, 0)])
    n = image.shape[0]
    out = sum(w * padded[i : i + n] for i, w in enumerate(taps))
    return np.moveaxis(out, 0, axis)


def add_noise(signal: np.ndarray, acq: Acquisition, normal: np.ndarray) -> np.ndarray:
    """Photon noise: Poisson-like spread ``noise * sqrt(signal)`` from standard normals."""
    return np.maximum(signal + acq.noise * np.sqrt(signal) * normal, 1e-4)


def display(signal: np.ndarray, acq: Acquisition) -> np.ndarray:
    """Log exposure -> windowed, film-curved, gamma-corrected grey level in [0, 1]."""
    black, white = acq.window
    level = np.clip((-np.log(signal) - black) / (white - black), 0.0, 1.0)
    level = (1.0 - np.exp(-acq.tone * level)) / (1.0 - np.exp(-acq.tone))
    return level**acq.gamma


def burn_marker(image: np.ndarray, acq: Acquisition) -> np.ndarray:
    """Draws the bright side marker letter into one corner of a [0, 1] image."""
    letter, corner, height, brightness = acq.marker
    size = image.shape[0]
    glyph = _glyph(letter, max(6, round(height * size)))
    margin = max(2, round(0.03 * size))
    top = margin if corner < 2 else size - margin - glyph.shape[0]
    left = margin if corner % 2 == 0 else size - margin - glyph.shape[1]
    patch = image[top : top + glyph.shape[0], left : left + glyph.shape[1]]
    image[top : top + glyph.shape[0], left : left + glyph.shape[1]] = np.maximum(
        patch, brightness * glyph
    )
    return image


@lru_cache(maxsize=64)
def _glyph(letter: str, height: int) -> np.ndarray:
    """Coverage in [0, 1] of ``letter`` rendered ``height`` pixels tall, cropped to its ink."""
    font = ImageFont.load_default(size=height)
    canvas = Image.new("L", (2 * height, 2 * height))
    ImageDraw.Draw(canvas).text((height // 2, height // 2), letter, fill=255, font=font)
    ink = np.asarray(canvas, dtype=np.float64) / 255.0
    rows, cols = np.nonzero(ink)
    return ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
