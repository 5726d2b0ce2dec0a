"""``fracture-audit``: the truth about a dataset before training on it (usage and options:
``fracture.audit.arguments``)."""

import argparse
import sys
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

from fracture.audit.arguments import audit_parser
from fracture.audit.clean import clean_split, write_clean_manifest
from fracture.audit.figures import (
    augmented_samples_figure,
    class_distribution_figure,
    pick_examples,
)
from fracture.audit.outputs import markdown_summary, write_report
from fracture.audit.report import audit_splits
from fracture.config import CONF_DIR
from fracture.config_checks import DATA, check_config
from fracture.data.preprocessing import Preprocessing
from fracture.data.sources.layout import detect_layout
from fracture.errors import DataError, FractureError
from fracture.run_summary import console_command, shown_path


def main(argv: list[str] | None = None) -> int:
    """Audit a dataset; returns the exit status (2 on a bad path or config)."""
    args = audit_parser().parse_args(argv)
    try:
        cfg = _data_config(args.source, args.layout)
        out_dir = args.out or _default_out_dir(cfg)
        report = run(cfg, out_dir, args)
    except FractureError as error:
        print(f"fracture-audit: error: {error}", file=sys.stderr)
        return 2
    print(markdown_summary(report))
    tensorboard = f"{console_command('tensorboard')} --logdir {shown_path(out_dir)}"
    print(f"Report: {shown_path(out_dir / 'audit.json')}   Figures: {tensorboard}")
    return 0


def _data_config(source: list[str], layout: str) -> DictConfig:
    """The ``data`` config: from overrides, or a data config chosen for a folder's layout."""
    overrides = source if all("=" in arg for arg in source) else None
    if overrides is None and len(source) != 1:
        raise FractureError(f"give one dataset path or only key=value overrides, not {source}")
    root = None if overrides else Path(source[0]).expanduser()
    if root is not None:
        overrides = [f"data={detect_layout(root) if layout == 'auto' else layout}"]
    with initialize_config_dir(version_base="1.3", config_dir=CONF_DIR):
        cfg = compose("train", overrides=overrides)
    if root is not None:
        with open_dict(cfg):
            cfg.data.root = str(root)  # set here, not as an override: paths may hold '=' or ','
    check_config(cfg, DATA)
    return cfg


def _default_out_dir(cfg: DictConfig) -> Path:
    name = Path(str(cfg.data.root)).name or "dataset"
    return Path(cfg.paths.log_dir) / "audit" / f"{time.strftime('%Y-%m-%d_%H-%M-%S')}_{name}"


def run(cfg: DictConfig, out_dir: Path, args: argparse.Namespace) -> dict:
    """Audit the data of ``cfg`` into ``out_dir``; returns the report."""
    data = cfg.data
    source = instantiate(data.source)
    if args.write_clean_manifest:
        _refuse_inside(args.write_clean_manifest, source.root)
    source.prepare()
    splits = source.splits()
    max_pixels = args.max_pixels or data.max_pixels
    cache_dir = args.cache_dir or data.cache_dir
    report, prints, duplicates = audit_splits(
        splits, cache_dir, max_pixels, args.workers, not args.no_progress, data.decode_timeout_s
    )
    report = {"source": repr(source), **report}
    failure = None
    if args.write_clean_manifest:
        try:
            report["clean_manifest"] = _clean_manifest(args, splits, prints, duplicates, report)
        except DataError as error:  # the audit itself is still worth its report
            failure, report["clean_manifest"] = error, {"error": str(error)}
    figures = {"class_distribution": class_distribution_figure(report["counts"])}
    readable = {p.path for p in prints}
    examples = pick_examples([s for s in splits["train"] if str(s.path) in readable])
    if examples:
        augment = instantiate(data.augment) if data.augment else None
        preprocessing = Preprocessing(data.image_size, data.resize_size, fit=data.fit)
        figures["augmented_samples"] = augmented_samples_figure(
            examples, augment, preprocessing, max_pixels
        )
    write_report(out_dir, report, figures)
    if failure is not None:
        raise failure
    return report


def _clean_manifest(args, splits, prints, duplicates, report: dict) -> dict:
    clean, record = clean_split(
        splits,
        prints,
        duplicates,
        args.splits,
        args.ratios,
        args.split_seed,
        report["unreadable"],
    )
    return write_clean_manifest(args.write_clean_manifest, clean, record)


def _refuse_inside(manifest: Path, root: Path) -> None:
    """The user's dataset is read-only to us: no new file inside it, no overwritten manifest."""
    manifest, root = manifest.expanduser().resolve(), root.resolve()
    if manifest == root or root in manifest.parents:
        raise FractureError(
            f"--write-clean-manifest {manifest} is inside the dataset {root}, which fracture "
            "never writes to; choose a path outside it"
        )


if __name__ == "__main__":
    sys.exit(main())
