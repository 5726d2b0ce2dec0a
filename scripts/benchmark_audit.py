"""Measure fracture-audit's rate: cold (every file decoded and hashed) and warm (cached).

    .venv/bin/python scripts/benchmark_audit.py --images 10000 --size 512

Generates a synthetic split-folder set of ``--images`` PNGs (not timed), audits it twice into
a temporary folder and prints images/s for both runs. Results are recorded in README.md.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

from fracture.audit.cli import main as audit
from fracture.synth import SyntheticSpec, ensure_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=512, help="side of the generated PNGs")
    parser.add_argument("--data", type=Path, help="reuse or create the dataset here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = args.data or Path(scratch) / "data"
        train, rest = int(args.images * 0.8), args.images - int(args.images * 0.8)
        spec = SyntheticSpec(
            seed=0, size=args.size, train=train, val=rest // 2, test=rest - rest // 2
        )
        started = time.perf_counter()
        ensure_dataset(root, spec)
        print(
            f"dataset: {args.images} x {args.size} px PNG in {time.perf_counter() - started:.0f} s"
        )
        for run in ("cold", "warm"):
            out = Path(scratch) / run
            audit(
                [str(root), "--out", str(out), "--cache-dir", f"{scratch}/cache", "--no-progress"]
            )
            report = json.loads((out / "audit.json").read_text())
            rate = report["images_per_second"]
            print(f"{run}: {report['files']} files in {report['seconds']} s = {rate} images/s")


if __name__ == "__main__":
    main()
