"""``fracture-bench``: measure fracture on this machine; print a table and write JSON.

    fracture-bench                       # preset cpu-quick: 256 train images of 1,024 px
    fracture-bench --preset h100         # one NVIDIA GPU, bf16, batch 256: under 5 minutes
    fracture-bench --preset smoke        # seconds: checks that it runs; numbers mean nothing
    fracture-bench --data /tmp/bench --json bench.json   # keep the images for the next run

Generates the synthetic images (once per ``--data`` folder), then measures in one process:
the data path (ImageFolder + PIL against fracture's, cold and warm), training steps (plain
PyTorch loop against Lightning, frozen and fine-tuned), fine-tuning end to end from the
pixel cache, frozen epochs over images against cached features, inference, peak memory.
"""

import argparse
import datetime
import json
import logging
import os
import shlex
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from fracture.bench.arguments import bench_parser
from fracture.bench.config import bench_config
from fracture.bench.data import fracture_rates, imagefolder_rates
from fracture.bench.dataset import bench_dataset
from fracture.bench.features import feature_epochs
from fracture.bench.inference import inference_rate
from fracture.bench.memory import peak_rss_mib
from fracture.bench.report import machine, report, targets
from fracture.bench.settings import BenchSettings, preset
from fracture.bench.training import build_model, compare_loops, end_to_end, sample_batches
from fracture.data import Preprocessing


def main(argv: list[str] | None = None) -> None:
    """Console entry point ``fracture-bench``."""
    args = bench_parser().parse_args(argv)
    settings = _settings(args)
    _quiet_lightning()
    with tempfile.TemporaryDirectory(prefix="fracture-bench-") as scratch:
        root = args.data or Path(scratch) / "data"
        results = run(settings, root.resolve(), Path(scratch))
    results["command"] = shlex.join(["fracture-bench", *(sys.argv[1:] if argv is None else argv)])
    results["preset"] = args.preset
    print(f"\n{report(results)}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwrote {args.json}")


def run(settings: BenchSettings, root: Path, scratch: Path) -> dict:
    """Every measurement of ``settings`` on the images in ``root`` (generated if missing).

    Args:
        settings: Sizes and device.
        root: The benchmark images: made here once, reused when they match ``settings``.
        scratch: An empty temporary folder for caches and run output.
    """
    started = time.perf_counter()
    results = {"date": datetime.date.today().isoformat(), "machine": machine()}
    results["settings"] = asdict(settings)
    _say(f"images: {settings.images} train images of {settings.size} px in {root}")
    results["images"] = bench_dataset(
        root, settings.images, settings.size, settings.image_format, settings.seed
    )
    results["data"] = _data(settings, root, scratch)
    results["training"], batches = _training(settings, root, scratch)
    _say("fine-tuning end to end")
    results["end_to_end"] = end_to_end(
        bench_config(settings, root, scratch, "finetune=full"), settings
    )
    _say("frozen epochs over images and over cached features")
    frozen = bench_config(settings, root, scratch, "finetune=frozen")
    results["features"] = feature_epochs(frozen, settings)
    _say("inference")
    results["inference"] = _inference(settings, root, scratch, batches.dataset[0][0])
    results["memory"] = _memory(results)
    results["targets"] = targets(results)
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["machine"]["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    return results


def _data(settings: BenchSettings, root: Path, scratch: Path) -> dict:
    _say("data path: ImageFolder + PIL")
    preprocessing = Preprocessing(settings.image_size, settings.resize_size)
    baseline = imagefolder_rates(
        root / "train", preprocessing, settings.batch_size, settings.workers
    )[-1]  # the second epoch: workers started, files in the page cache
    _say("data path: fracture, cold then warm")
    ours = fracture_rates(bench_config(settings, root, scratch))
    return {
        "baseline_images_per_s": baseline,
        **ours,
        "warm_vs_baseline": ours["warm_images_per_s"] / baseline,
    }


def _training(settings: BenchSettings, root: Path, scratch: Path) -> tuple[dict, DataLoader]:
    count = settings.warmup + settings.steps
    device = torch.device(settings.device)
    batches = sample_batches(bench_config(settings, root, scratch), count, device)
    out = {}
    for mode, choice in (("frozen", "frozen"), ("finetuned", "full")):
        _say(f"training steps, {mode}: plain loop, then Lightning")
        cfg = bench_config(settings, root, scratch, f"finetune={choice}")
        out[mode] = compare_loops(cfg, batches, settings)
    rates = [out[mode]["lightning_images_per_s"] for mode in ("frozen", "finetuned")]
    out["frozen_vs_finetuned"] = rates[0] / rates[1]
    return out, batches


def _inference(settings: BenchSettings, root: Path, scratch: Path, images) -> dict:
    cfg = bench_config(settings, root, scratch)
    bf16 = cfg.trainer.get("precision") == "bf16-mixed"
    return inference_rate(build_model(cfg), images, settings.steps, settings.warmup, bf16)


def _memory(results: dict) -> dict:
    train = results["training"]
    return {
        "rss_mib": peak_rss_mib(),
        "cuda_peak_mib": {
            "train frozen (Lightning)": train["frozen"]["cuda_peak_mib"]["lightning"],
            "train fine-tuned (Lightning)": train["finetuned"]["cuda_peak_mib"]["lightning"],
            "fine-tuning end to end": results["end_to_end"]["cuda_peak_mib"],
            "inference": results["inference"]["cuda_peak_mib"],
        },
    }


def _settings(args: argparse.Namespace) -> BenchSettings:
    fields = ("images", "size", "image_format", "steps", "warmup", "batch_size", "workers")
    settings = preset(args.preset, device=args.device, **{f: getattr(args, f) for f in fields})
    if settings.workers is None:  # both data paths get every usable core
        settings = replace(settings, workers=len(os.sched_getaffinity(0)))
    return settings


def _quiet_lightning() -> None:
    # Lightning announces every Trainer (GPU available, ...); the table is what matters.
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="lightning")


def _say(message: str) -> None:
    print(f"fracture-bench: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
