"""``fracture-synth ROOT``: generate (or reuse) the embedded synthetic X-ray set."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from fracture.errors import FractureError
from fracture.synth.dataset import ensure_dataset, read_marker
from fracture.synth.spec import SyntheticSpec


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit status (2 on a bad spec or data root).

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when None.
    """
    args = _parser().parse_args(argv)
    start = time.perf_counter()
    try:
        spec = SyntheticSpec(**{k: v for k, v in vars(args).items() if k != "root"})
        existed = read_marker(args.root) is not None
        ensure_dataset(args.root, spec)
        counts = read_marker(args.root)["counts"]
    except FractureError as err:
        print(f"fracture-synth: error: {err}", file=sys.stderr)
        return 2
    verb = "reused" if existed else "generated"
    print(
        f"fracture-synth: {verb} {_summary(counts)} at {spec.size} px in {args.root} "
        f"({time.perf_counter() - start:.1f} s)"
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    defaults = SyntheticSpec()
    parser = argparse.ArgumentParser(
        prog="fracture-synth",
        description="Generate synthetic long-bone radiographs into ROOT/{train,val,test}/"
        "{fractured,not_fractured}/, or reuse them if ROOT already holds the same set.",
    )
    parser.add_argument("root", type=Path, metavar="ROOT", help="the dataset folder to write")
    for name, kind, about in _OPTIONS:
        flag = "--" + name.replace("_", "-")
        default = getattr(defaults, name)
        parser.add_argument(flag, type=kind, default=default, help=f"{about} (default {default})")
    return parser


_OPTIONS = [
    ("seed", int, "seed of every random draw: the same seed gives the same images"),
    ("size", int, "image side in pixels"),
    ("train", int, "training images, both classes together"),
    ("val", int, "validation images"),
    ("test", int, "test images"),
    ("fractured_fraction", float, "share of each split that shows a fracture"),
    ("subtle_fraction", float, "share of the fractures drawn as thin, low-contrast hairlines"),
]


def _summary(counts: dict) -> str:
    """E.g. ``1600 images (train 500+500, val 100+100, test 200+200 fractured+not)``."""
    total = sum(sum(c.values()) for c in counts.values())
    parts = ", ".join(f"{s} {c['fractured']}+{c['not_fractured']}" for s, c in counts.items())
    return f"{total} images ({parts} fractured+not)"


if __name__ == "__main__":
    sys.exit(main())
