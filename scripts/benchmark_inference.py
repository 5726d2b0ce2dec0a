"""Inference benchmark, every backend side by side: fracture-serve and fracture-predict with
PyTorch and ONNX Runtime (fp32, int8) on the same images, cores and clients, against this
CPU's fp32 ceiling.

    .venv/bin/python scripts/benchmark_inference.py --json inference.json  # prepares below
    .venv/bin/python scripts/benchmark_inference.py --ckpt <run dir>       # a trained run
    .venv/bin/python scripts/benchmark_inference.py --backbone resnet50    # random weights

Without ``--ckpt`` or ``--backbone`` the model is prepared in ``--prepare`` (default
logs/benchmark-inference, reused by later runs): a synthetic set (``fracture-synth``'s
generator, through ``data=synthetic``), a ResNet50 at 224 px fine-tuned for 2 epochs from
scratch (``fracture-train``; ``--train-set`` adds overrides) and its ``fracture-export``
ONNX fp32 and int8 models. The int8 exporter calibrates on the run's training images and
refuses a model whose validation AUROC or decisions it changes too much; its refusal is
reported in the table. ``--backbone`` (random weights, no run) has no int8 model.

Measured, one after another on the first ``--cores`` CPUs (server, clients and batch
prediction pinned there), on ``--images`` synthetic radiograph PNGs of ``--image-px``:

* serving (``scripts/benchmark_serve.py``: the real app under uvicorn in a child process,
  ``--clients`` keep-alive clients sending the images in turn): PyTorch eager unbatched
  (``max_batch=1``), PyTorch micro-batched, ONNX Runtime fp32 and int8 micro-batched
  (``max_batch=--max-batch``): requests/s, p50/p95/p99 latency, failures;
* batch prediction (``fracture-predict``'s ``run_prediction``, in process) with each
  backend: images/s over the folder. Each backend runs twice, on ``--batch-size`` x 2
  images and on all of them; the rate is their difference, so loading the model and the
  first batches' warm-up are not counted (reported apart as "fixed s");
* the share of the fp32 ceiling (``fracture/bench/ceiling.py``: cores x FLOP/cycle from the
  cpuinfo flags x clock) each reaches, from the model's FLOPs per image counted on one
  forward pass.

A variant whose option this code base lacks (``backend``, ``max_batch``, ``quantize``) is
skipped with the reason. Prints one Markdown table and the machine; ``--json`` writes it all.
"""

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from benchmark_serve import measure_serving, random_predictor
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException

from fracture.bench.ceiling import Ceiling, cpu_model, fp32_ceiling, model_flop
from fracture.bench.dataset import bench_dataset
from fracture.inference.predict import predict_paths
from fracture.inference.predict_cli import run_prediction
from fracture.train import CONF_DIR
from fracture.trained.predictor import load_predictor

DEFAULT_PREPARE = Path("logs/benchmark-inference")
# fracture-train overrides of the prepared model: ResNet50 at 224 px, a few minutes on 2 cores.
TRAIN_OVERRIDES = [
    "experiment=finetune",
    "model=resnet50",
    "model.weights=null",  # no ImageNet download here: from scratch (zero_init_residual)
    "finetune.unfreeze_at_epoch=0",  # both epochs fine-tune every layer
    "data=synthetic",
    "data.source.synthetic.size=256",
    "data.source.synthetic.train=300",
    "data.source.synthetic.val=100",
    "data.source.synthetic.test=100",
    "data.image_size=224",
    "data.resize_size=224",
    "trainer.max_epochs=2",
    "logger=csv",
]


@dataclass
class Subject:
    """The measured model: what serving and prediction load, and its ONNX exports."""

    name: str
    ckpt: str | None  # a run dir or checkpoint; None: ``backbone`` with random weights
    backbone: str | None
    onnx: dict = field(default_factory=dict)  # fp32 / int8 → export dir, or why there is none
    quantization: dict | None = None  # model.json's record of the int8 export


def main() -> None:
    args = _arguments()
    results = {"date": datetime.date.today().isoformat(), "command": " ".join(sys.argv)}
    load_before = os.getloadavg()[0]
    with _workspace(args) as work:
        subject = _subject(args, work)
        os.sched_setaffinity(0, range(args.cores))  # the children inherit it
        torch.set_num_threads(args.cores)
        results["machine"] = _machine(load_before)
        predictor = _predictor(subject)
        flop = model_flop(predictor.model, predictor.preprocessing.image_size)
        ceiling = fp32_ceiling(os.sched_getaffinity(0), args.flop_per_cycle, args.ghz)
        images = _images(work, args)
        rows = _serve_rows(args, subject, images) + _predict_rows(args, subject, images)
    results["machine"]["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    results |= _model_record(subject, predictor, flop, ceiling, args)
    results["rows"] = [_with_share(row, flop, ceiling) for row in rows]
    print("\n" + report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwrote {args.json}")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    model = parser.add_mutually_exclusive_group()
    model.add_argument("--ckpt", help="a run directory (int8 needs one) or checkpoint")
    model.add_argument("--backbone", help="a torchvision backbone with random weights, 224 px")
    model.add_argument("--prepare", type=Path, help=f"default {DEFAULT_PREPARE}: see above")
    add = parser.add_argument
    add("--train-set", nargs="*", default=[], help="more fracture-train overrides (--prepare)")
    add("--images", type=int, default=500, help="synthetic PNGs, served and predicted")
    add("--image-px", type=int, default=512, help="side of the PNGs")
    add("--clients", type=int, default=4, help="concurrent serving clients")
    add("--seconds", type=float, default=30, help="measured serving duration per variant")
    add("--warmup", type=float, default=5, help="unmeasured serving duration first")
    add("--cores", type=int, default=2, help="CPUs for everything measured")
    add("--max-batch", type=int, default=8, help="serving's max_batch when micro-batched")
    add("--batch-size", type=int, default=32, help="fracture-predict's batch_size")
    add("--set", nargs="*", default=[], help="conf/serve.yaml overrides for every variant")
    add("--flop-per-cycle", type=int, help="fp32 FLOP/cycle/core instead of the flags' rule")
    add("--ghz", type=float, help="the clock instead of lscpu's / /proc/cpuinfo's")
    add("--json", type=Path, help="also write every number here")
    args = parser.parse_args()
    if not (args.ckpt or args.backbone or args.prepare):
        args.prepare = DEFAULT_PREPARE
    return args


@contextlib.contextmanager
def _workspace(args: argparse.Namespace):
    """The prepare folder (kept: its model, exports and images are reused), else a
    temporary one."""
    if args.prepare:
        args.prepare.mkdir(parents=True, exist_ok=True)
        yield args.prepare.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="benchmark-inference-") as scratch:
        yield Path(scratch)


def _subject(args: argparse.Namespace, work: Path) -> Subject:
    if args.backbone:
        subject = Subject(f"{args.backbone}, random weights", None, args.backbone)
        subject.onnx["fp32"] = _export_random(args.backbone, work / "onnx-fp32")
        subject.onnx["int8"] = "needs a run directory to calibrate and gate on (--ckpt)"
        return subject
    run = str(Path(args.ckpt).resolve()) if args.ckpt else str(_prepare(work, args.train_set))
    subject = Subject(run, run, None)
    subject.onnx["fp32"] = _export(run, work / "onnx-fp32")
    subject.onnx["int8"] = _export(run, work / "onnx-int8", "quantize=int8")
    if isinstance(subject.onnx["int8"], Path):
        sidecar = json.loads((subject.onnx["int8"] / "model.json").read_text())
        subject.quantization = sidecar.get("quantization")
    return subject


def _prepare(work: Path, extra: list[str]) -> Path:
    """A briefly trained run in ``work/run``, trained once per set of overrides."""
    run, record = work / "run", work / "prepare.json"
    overrides = [*TRAIN_OVERRIDES, f"data.root={work / 'synthetic'}", *extra]
    if record.is_file() and json.loads(record.read_text()) == overrides:
        return run
    if run.exists():
        raise SystemExit(f"{run} was trained with other overrides; choose a new --prepare folder")
    _say(f"training {run}: fracture-train {' '.join(overrides)}")
    _command("train", *overrides, f"hydra.run.dir={run}", check=True)
    record.write_text(json.dumps(overrides))
    return run


def _export(run: str, out: Path, *options: str) -> Path | str:
    """``fracture-export`` into ``out`` (reused when there), or its error line."""
    if (out / "model.json").is_file():
        return out
    shutil.rmtree(out, ignore_errors=True)  # a refused or broken earlier attempt
    _say(f"exporting {out.name}: fracture-export ckpt={run} format=onnx {' '.join(options)}")
    done = _command("export", f"ckpt={run}", "format=onnx", *options, f"hydra.run.dir={out}")
    if done.returncode:
        return f"fracture-export {' '.join(options)}: {_error_line(done.stderr)}".replace("  ", " ")
    return out


def _error_line(stderr: str) -> str:
    """``fracture-export: error: ...``'s reason, or Hydra's first two lines (a bad override)."""
    lines = [line for line in stderr.splitlines() if line and not line.startswith(" ")]
    errors = [line.split("error:", 1)[1].strip() for line in lines if "error:" in line]
    return errors[-1] if errors else " ".join(lines[:3:2]) or "failed"


def _export_random(backbone: str, out: Path) -> Path:
    from fracture.inference.export import export

    if not (out / "model.json").is_file():
        export(random_predictor(backbone), out, "onnx")
    return out


def _command(name: str, *overrides: str, check: bool = False) -> subprocess.CompletedProcess:
    """``fracture-<name> overrides``, through the console entry point; its output on stderr
    (stdout is the table's)."""
    code = f"from fracture.console import {name}; {name}()"
    stderr = None if check else subprocess.PIPE  # training shows its progress
    command = [sys.executable, "-c", code, *overrides]
    done = subprocess.run(command, stdout=sys.stderr, stderr=stderr, text=True)
    if check and done.returncode:
        raise SystemExit(f"fracture-{name} failed with exit status {done.returncode}")
    return done


def _predictor(subject: Subject):
    return load_predictor(subject.ckpt) if subject.ckpt else random_predictor(subject.backbone)


def _images(work: Path, args: argparse.Namespace) -> list[Path]:
    """``--images`` synthetic PNGs (fracture-bench's generator; reused in ``work``)."""
    root = work / f"images-{args.images}-{args.image_px}px"
    _say(f"images: {args.images} PNGs of {args.image_px} px in {root}")
    bench_dataset(root, args.images, args.image_px, "png")
    return sorted((root / "train").rglob("*.png"))


def _serve_rows(args: argparse.Namespace, subject: Subject, images: list[Path]) -> list[dict]:
    pngs = [path.read_bytes() for path in images]
    rows = []
    for backend, batching, precision in _VARIANTS:
        row = {"path": "serve", "backend": backend, "precision": precision, "batching": batching}
        model, overrides = _serve_variant(args, subject, backend, batching, precision)
        if isinstance(overrides, str):
            rows.append(row | {"skipped": overrides})
            continue
        _say(f"serving {backend} {precision} {batching}: {' '.join(overrides)}")
        result = measure_serving(
            model, subject.backbone, overrides, pngs, args.clients, args.seconds, args.warmup
        )
        rows.append(row | {"overrides": overrides, **result.summary()})
    return rows


_VARIANTS = [
    ("torch", "max_batch=1", "fp32"),
    ("torch", "micro-batched", "fp32"),
    ("onnx", "micro-batched", "fp32"),
    ("onnx", "micro-batched", "int8"),
]


def _serve_variant(args, subject: Subject, backend: str, batching: str, precision: str):
    """What to serve (a ckpt or export dir; None: the random backbone) and the overrides of
    ``conf/serve.yaml``, or why the variant cannot run here."""
    keys = _config_keys("serve")
    model = subject.onnx[precision] if backend == "onnx" else subject.ckpt
    if backend == "onnx" and "backend" not in keys:
        return None, "conf/serve.yaml has no backend (torch, onnx) yet"
    if isinstance(model, str) and backend == "onnx":
        return None, model  # no export: why
    if batching != "max_batch=1" and "max_batch" not in keys:
        return None, "conf/serve.yaml has no max_batch (micro-batching) yet"
    overrides = [f"backend={backend}"] if "backend" in keys else []
    if "max_batch" in keys:  # without it the server is unbatched: one image per call
        batch = 1 if batching == "max_batch=1" else args.max_batch
        overrides.append(f"max_batch={batch}")
    return (str(model) if model else None), [*overrides, *args.set]


def _predict_rows(args: argparse.Namespace, subject: Subject, images: list[Path]) -> list[dict]:
    rows = []
    for backend, precision in (("torch", "fp32"), ("onnx", "fp32"), ("onnx", "int8")):
        row = {"path": "predict", "backend": backend, "precision": precision}
        row["batching"] = f"batch_size={args.batch_size}"
        model = subject.ckpt if backend == "torch" else subject.onnx[precision]
        if backend == "onnx" and "backend" not in _config_keys("predict"):
            rows.append(row | {"skipped": "conf/predict.yaml has no backend (torch, onnx) yet"})
        elif isinstance(model, str) and backend == "onnx":
            rows.append(row | {"skipped": model})
        else:
            _say(f"predicting {len(images)} images: {backend} {precision}")
            rows.append(row | _predict_rate(args, subject, backend, model, images))
    return rows


def _predict_rate(args, subject: Subject, backend: str, model, images: list[Path]) -> dict:
    """Images/s between a run on 2 batches and one on every image: the steady rate."""
    warm = images[: 2 * args.batch_size]
    short, full = (_timed_prediction(args, subject, backend, model, p) for p in (warm, images))
    steady = full - short  # not positive when too few images leave the noise larger
    rate = (len(images) - len(warm)) / steady if len(images) > len(warm) and steady > 0 else 0
    rate = rate or len(images) / full
    return {"images": len(images), "images_per_s": rate, "fixed_s": full - len(images) / rate}


def _timed_prediction(args, subject: Subject, backend: str, model, paths: list[Path]) -> float:
    started = time.perf_counter()
    if model is None:  # random weights have no checkpoint: what run_prediction calls
        predict_paths(random_predictor(subject.backbone), paths, args.batch_size, progress=False)
        return time.perf_counter() - started
    extra = [f"backend={backend}"] if "backend" in _config_keys("predict") else []
    with initialize_config_dir(version_base="1.3", config_dir=CONF_DIR):
        cfg = compose("predict", overrides=[f"ckpt={model}", "inputs=unused", *extra])
    cfg.inputs = [str(path) for path in paths]
    with tempfile.TemporaryDirectory() as out:
        run_prediction(cfg, Path(out))
    return time.perf_counter() - started


def _config_keys(name: str) -> set[str]:
    try:
        with initialize_config_dir(version_base="1.3", config_dir=CONF_DIR):
            return set(compose(name, overrides=["ckpt=unused"]).keys())
    except HydraException:
        return set()


def _machine(load_before: float) -> dict:
    import onnxruntime

    return {
        "cpu": cpu_model(),
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "load_average_1min_before": round(load_before, 2),
    }


def _model_record(subject: Subject, predictor, flop: float, ceiling, args) -> dict:
    image_size = predictor.preprocessing.image_size
    record = {"model": subject.name, "image_size": image_size, "gflop_per_image": flop / 1e9}
    record["onnx"] = {  # an export directory, or why there is none
        k: {"dir": str(v)} if isinstance(v, Path) else {"unavailable": v}
        for k, v in subject.onnx.items()
    }
    record["quantization"] = subject.quantization
    record["settings"] = {
        k: getattr(args, k) for k in ("images", "image_px", "clients", "seconds", "cores")
    }
    if isinstance(ceiling, Ceiling):
        record["ceiling"] = asdict(ceiling) | {
            "gflop_per_s": ceiling.gflop_per_s,
            "images_per_s": ceiling.images_per_s(flop),
        }
    else:
        record["ceiling"] = {"unknown": ceiling}
    return record


def _with_share(row: dict, flop: float, ceiling) -> dict:
    rate = row.get("images_per_s", row.get("requests_per_s"))  # one image per request
    if rate is not None and isinstance(ceiling, Ceiling):
        row["ceiling_share"] = rate / ceiling.images_per_s(flop)
    return row


def report(results: dict) -> str:
    """The Markdown table, then the machine, model and ceiling lines."""
    head = "| path | backend | batching | rate | p50 ms | p95 ms | p99 ms | failed | of ceiling |"
    lines = [head, "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    lines += [_table_row(row) for row in results["rows"]]
    return "\n".join([*lines, "", *_notes(results)])


def _table_row(row: dict) -> str:
    name = f"{row['backend']} {row['precision']}"
    cells = [row["path"], name, row["batching"]]
    if "skipped" in row:
        return "| " + " | ".join([*cells, f"skipped: {row['skipped']}", *[""] * 5]) + " |"
    if row["path"] == "serve":
        rate = f"{row['requests_per_s']:.1f} req/s"
        cells += [rate, *(f"{row[f'p{q}_ms']:.0f}" for q in (50, 95, 99)), str(row["failures"])]
    else:
        cells += [f"{row['images_per_s']:.1f} img/s", "", "", "", ""]
    share = row.get("ceiling_share")
    return "| " + " | ".join([*cells, f"{share:.0%}" if share is not None else ""]) + " |"


def _notes(results: dict) -> list[str]:
    m, s, c = results["machine"], results["settings"], results["ceiling"]
    notes = [
        f"- machine: {m['cpu']}, {m['cores']} cores used; load average (1 min) "
        f"{m['load_average_1min_before']} before, {m['load_average_1min_after']} after; "
        f"Python {m['python']}, torch {m['torch']}, onnxruntime {m['onnxruntime']}",
        f"- model: {results['model']}, {results['image_size']} px, "
        f"{results['gflop_per_image']:.2f} GFLOP per image (counted, multiply-add = 2)",
        f"- same for every row: {s['images']} PNGs of {s['image_px']} px, {s['cores']} cores; "
        f"serving: {s['clients']} clients, {s['seconds']:g} s per variant",
    ]
    if "unknown" in c:
        return [*notes, f"- fp32 ceiling: {c['unknown']}"]
    notes.append(
        f"- fp32 ceiling: {c['cores']} cores x {c['flop_per_cycle']} FLOP/cycle ({c['rule']}) "
        f"x {c['ghz']:.2f} GHz ({c['clock_source']}) = {c['gflop_per_s']:.0f} GFLOP/s "
        f"= {c['images_per_s']:.1f} images/s"
    )
    if results["quantization"]:
        notes.append(f"- int8 export: {json.dumps(results['quantization'])}")
    for precision, export in results["onnx"].items():
        if "unavailable" in export:
            notes.append(f"- no ONNX {precision} model: {export['unavailable']}")
    fixed = [f"{r['backend']} {r['precision']} {r['fixed_s']:.1f} s" for r in results["rows"]
             if "fixed_s" in r]  # fmt: skip
    if fixed:
        notes.append("- predict, fixed time not in its rate (load, warm-up): " + ", ".join(fixed))
    return notes


def _say(message: str) -> None:
    print(f"benchmark_inference: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
