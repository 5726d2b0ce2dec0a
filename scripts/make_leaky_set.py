"""Builds a Kaggle-like leaky fracture set for trying the audit-then-train walkthrough.

Usage (from the repository root; the generator lives with the tests):
PYTHONPATH=. .venv/bin/python scripts/make_leaky_set.py OUT [--originals 500] [--size 128]

Writes ``OUT/{train,val,test}/{fractured,not fractured}/`` with byte copies across all three
splits, rotated and renamed families ("12-rotated1.jpg", "12 (2).jpg", "12 - Copy.jpg"),
re-encoded near copies, truncated JPEGs, a GIF named .jpg, RGB/RGBA/palette files and mixed
sizes (see ``tests/leaky.py``), and prints how many files and distinct originals it holds.
"""

import argparse
from pathlib import Path

from tests.leaky import LeakySpec, make_leaky_set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to create (must not exist)")
    parser.add_argument("--originals", type=int, default=500, help="distinct images per class")
    parser.add_argument("--size", type=int, default=128, help="image side in px")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.out.exists():
        raise SystemExit(f"make_leaky_set: {args.out} exists; choose a new folder")
    families = make_leaky_set(args.out, LeakySpec(args.originals, args.size, args.seed))
    files = sum(1 for p in args.out.rglob("*") if p.is_file())
    print(
        f"{files} files ({len(families)} readable) from {len(set(families.values()))} "
        f"distinct images in {args.out}"
    )


if __name__ == "__main__":
    main()
