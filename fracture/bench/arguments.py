"""The command line of ``fracture-bench``, apart from the benchmark: ``--help`` needs no torch."""

import argparse
from pathlib import Path

from fracture.bench.settings import PRESETS


def bench_parser() -> argparse.ArgumentParser:
    """The command line of ``fracture-bench``."""
    parser = argparse.ArgumentParser(
        prog="fracture-bench",
        description="measure fracture on this machine; print a table and write JSON",
    )
    add = parser.add_argument
    add(
        "--preset",
        choices=PRESETS,
        default="cpu-quick",
        help="sizes: cpu-quick (default, 2 CPU cores, about 5 min), "
        "h100 (one NVIDIA GPU), smoke (seconds: checks that every measurement runs, "
        "the numbers mean nothing)",
    )
    add("--images", type=int, help="train images to generate (val, test: an eighth each)")
    add("--size", type=int, help="side of the generated images in pixels (default 1024)")
    add("--format", dest="image_format", choices=("png", "jpeg"), help="image files (png)")
    add("--steps", type=int, help="measured training / inference steps")
    add("--warmup", type=int, help="unmeasured steps before them")
    add("--batch-size", type=int, help="images per batch")
    add("--workers", type=int, help="DataLoader workers (default: the usable cores)")
    add("--device", choices=("cpu", "cuda"), help="default: the preset's")
    add("--data", type=Path, help="keep the generated images here and reuse them next time")
    add("--json", type=Path, help="also write the results to this JSON file")
    return parser
