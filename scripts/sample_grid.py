"""Saves a labelled grid of synthetic radiographs of both classes (docs/synthetic_samples.png).

Usage: python scripts/sample_grid.py [--out PATH] [--size 128] [--show-size 64] [--seed 0]

``--show-size 64`` downsamples each image first, to check that fractures survive the
resolution the demo trains at.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from fracture.synth import SyntheticSpec, render_with_kind

_ROWS, _COLS = 4, 6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/synthetic_samples.png"))
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--show-size", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    subtle = SyntheticSpec().subtle_fraction
    fig = Figure(figsize=(2 * _COLS, 2.2 * _ROWS))
    axes = fig.subplots(_ROWS, _COLS)
    for i, ax in enumerate(axes.flat):
        # Alternate the classes so both fill the grid; one random stream per tile.
        rng = np.random.default_rng([args.seed, 99, i])
        rendering = render_with_kind(rng, args.size, i % 2 == 0, subtle)
        image = rendering.image
        if args.show_size:
            small = Image.fromarray(image).resize((args.show_size,) * 2, Image.BILINEAR)
            image = np.asarray(small)
        ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        title = f"fractured ({rendering.kind})" if rendering.kind else "not fractured"
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
