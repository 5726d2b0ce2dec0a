"""The command line of ``fracture-audit``, apart from the audit: ``--help`` needs no torch."""

import argparse
from pathlib import Path

# How a clean manifest treats the given splits (fracture.audit.clean).
SPLIT_MODES = ("auto", "regroup", "keep")

USAGE = """fracture-audit: the truth about a dataset before training on it.

fracture-audit /data/bone-xrays --out audit/                  # layout detected
fracture-audit data=mura data.root=/data/MURA-v1.1 --out audit/  # any data config
fracture-audit /data/kaggle --write-clean-manifest clean.csv   # then data=csv data.root=clean.csv

The clean manifest re-splits the readable files by leakage group (copies, near copies, name
families, patients) when the given splits leak; --splits keep keeps them instead.
"""


def audit_parser() -> argparse.ArgumentParser:
    """The command line of ``fracture-audit``."""
    parser = argparse.ArgumentParser(
        prog="fracture-audit",
        description=USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "source",
        nargs="+",
        help="a dataset folder or manifest CSV, or overrides: data=<source> data.root=<path>",
    )
    parser.add_argument(
        "--out", type=Path, help="output folder (default: logs/audit/<time>_<name>)"
    )
    parser.add_argument(
        "--layout",
        default="auto",
        choices=["auto", "folder", "class_folders", "csv", "fracatlas", "mura"],
        help="how the folder is organised (default: detected)",
    )
    parser.add_argument(
        "--write-clean-manifest",
        type=Path,
        metavar="PATH",
        help="write a CSV without unreadable files and leakage",
    )
    parser.add_argument(
        "--splits",
        default="auto",
        choices=SPLIT_MODES,
        help="clean manifest: auto re-splits by leakage group when the given splits leak "
        "(default), regroup always re-splits, keep drops leaking files from the given splits",
    )
    parser.add_argument(
        "--ratios",
        type=float,
        nargs=3,
        default=(0.8, 0.1, 0.1),
        metavar=("TRAIN", "VAL", "TEST"),
        help="image fractions of a re-split (default: 0.8 0.1 0.1)",
    )
    parser.add_argument("--split-seed", type=int, default=0, help="seed of a re-split")
    parser.add_argument(
        "--workers", type=int, help="inspection processes (default: all usable cores)"
    )
    parser.add_argument(
        "--cache-dir", type=Path, help="file-inspection cache (default: data.cache_dir)"
    )
    parser.add_argument(
        "--max-pixels", type=int, help="decompression-bomb limit (default: data.max_pixels)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser
