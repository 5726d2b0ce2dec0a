"""The command line of ``fracture-compare``, apart from the comparison: ``--help`` needs no
torch."""

import argparse
from pathlib import Path

DESCRIPTION = (
    "Compare the test metrics of the runs of one or more sweeps: ``fracture-compare DIR...``."
)


def compare_parser() -> argparse.ArgumentParser:
    """The command line of ``fracture-compare``."""
    parser = argparse.ArgumentParser(prog="fracture-compare", description=DESCRIPTION)
    parser.add_argument("sweep_dirs", nargs="+", type=Path, help="multirun (or run) directories")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument(
        "--baseline", default="frozen", help="the experiment others are compared against"
    )
    return parser
