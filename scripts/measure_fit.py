"""How much of a fracture near the end of a long film each ``data.fit`` keeps in the model input.

Usage: python scripts/measure_fit.py [--films 100] [--render 448] [--seed 0]

Each film is cut from a synthetic long-bone radiograph (``fracture.synth``, limbs along the
long axis) as a portrait window of aspect 4:5 or 1:2 whose long side is half the render's side,
placed so that the fracture line sits anywhere along the film, ends included (uniform over
5-95 % of the height, where the render allows). The same random stream rendered without the
fracture gives the healthy twin; the fractured one keeps its own pixels only near the
fracture line, so the two differ only there. Both go through
``Preprocessing(image_size=224, resize_size=256, fit=...).eval_transform(uint8=True)``; a
fracture counts as *in view* when at least 4 model-input pixels differ by 16 grey levels or
more. Also printed: the median number of such pixels among the films where it is in view
(how large the fracture is in the input).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from fracture.data.preprocessing import FITS, Preprocessing
from fracture.synth import render_with_kind

ASPECTS = {"4:5": 4 / 5, "1:2": 1 / 2}
LEVEL, PIXELS = 16, 4  # a visible difference: this many grey levels in this many pixels


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--films", type=int, default=100)
    parser.add_argument("--render", type=int, default=448)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    twins = [_twins(args.seed + i, args.render) for i in range(args.films)]
    windows = np.random.default_rng(args.seed)
    print("| film | fit | fractures in view | median changed pixels (in view) |")
    print("| --- | --- | --- | --- |")
    for name, aspect in ASPECTS.items():
        films = [_film(*pair, aspect, windows) for pair in twins]
        for fit in FITS:
            changed = np.array([_changed_pixels(fit, *film) for film in films])
            seen = changed >= PIXELS
            median = int(np.median(changed[seen])) if seen.any() else 0
            print(f"| {name} | {fit} | {seen.mean():.0%} | {median} |")


def _twins(seed: int, size: int):
    """Fractured and healthy renders of one random stream, and the fracture's (x, y).

    Only the fracture's surroundings (within 0.03 x the side of where the line crosses the
    bone) keep the fractured pixels: a displaced distal part changes the whole far end of
    the bone, which would count as "in view" with the fracture line cropped away.
    """
    fractured = render_with_kind(np.random.default_rng(seed), size, True, 0.0)
    healthy = render_with_kind(np.random.default_rng(seed), size, False, 0.0)
    (x, y), (rows, cols) = fractured.center, np.indices(healthy.image.shape)
    near = np.hypot(cols - x, rows - y) <= 0.03 * size
    return np.where(near, fractured.image, healthy.image), healthy.image, fractured.center


def _film(fractured, healthy, center, aspect: float, rng: np.random.Generator):
    """A portrait window of both twins with the fracture at a random height in it."""
    size = fractured.shape[0]
    height = int(0.5 * size)
    width = int(height * aspect)
    x, y = center
    left = int(np.clip(x - width / 2, 0, size - width))
    top = int(np.clip(y - rng.uniform(0.05, 0.95) * height, 0, size - height))
    window = np.s_[top : top + height, left : left + width]
    return fractured[window], healthy[window]


def _changed_pixels(fit: str, fractured: np.ndarray, healthy: np.ndarray) -> int:
    transform = Preprocessing(image_size=224, resize_size=256, fit=fit).eval_transform(uint8=True)
    a, b = (
        transform(torch.from_numpy(np.ascontiguousarray(i))[None]) for i in (fractured, healthy)
    )
    return int(((a.int() - b.int()).abs() >= LEVEL).sum())


if __name__ == "__main__":
    main()
