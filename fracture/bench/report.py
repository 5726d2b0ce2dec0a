"""The benchmark's table, its targets met or not, and the machine it ran on."""

import os
import platform
from pathlib import Path

import lightning
import torch


def machine() -> dict:
    """CPU model and usable cores, GPU, library versions, and the load when measuring."""
    return {
        "cpu": _cpu_model(),
        "cores": len(os.sched_getaffinity(0)),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "load_average_1min": round(os.getloadavg()[0], 2),  # other work skews every number
    }


def report(results: dict) -> str:
    """What ``fracture-bench`` prints: the table and the targets, or for the smoke preset the
    table under a warning and no verdicts (its toy sizes time start-up, not throughput)."""
    if results.get("preset") == "smoke":
        return (
            "smoke preset: every measurement ran once on toy sizes to check that it works; "
            "the numbers below are not measurements and no target is judged "
            "(measure with the default preset, cpu-quick, or h100)\n\n" + table(results)
        )
    return f"{table(results)}\n\n{targets_table(results['targets'])}"


def table(results: dict) -> str:
    """The results as a Markdown table: measurement, value, comparison."""
    lines = ["| measurement | value | compared |", "| --- | --- | --- |"]
    lines += [f"| {name} | {value} | {compared} |" for name, value, compared in _rows(results)]
    return "\n".join(lines)


def targets(results: dict) -> list[dict]:
    """Each target of the issue with the measured value and whether it is met (None: the
    measurement needs a GPU and this run had none)."""
    data, train, feats = results["data"], results["training"], results["features"]
    end = results["end_to_end"]
    gpu = results["settings"]["device"] == "cuda"
    checks = [
        ("warm cached data path / ImageFolder + PIL", data["warm_vs_baseline"], ">=", 3.0),
        ("Lightning overhead, frozen", train["frozen"]["lightning_overhead"], "<=", 0.05),
        ("Lightning overhead, fine-tuned", train["finetuned"]["lightning_overhead"], "<=", 0.05),
        ("frozen / fine-tuned training images/s", train["frozen_vs_finetuned"], ">=", 3.0),
        ("frozen epoch: images / cached features", feats["speedup"], ">=", 50.0),
        ("GPU: fine-tuned end to end images/s", end["images_per_s"] if gpu else None, ">=", 2500),
        (
            "GPU: busy share of the median step",
            1 - end["data_wait_share"] if gpu else None,
            ">=",
            0.9,
        ),
    ]
    return [_check(*check) for check in checks]


def _check(name: str, value: float | None, op: str, bound: float) -> dict:
    met = None if value is None else (value >= bound if op == ">=" else value <= bound)
    return {"target": f"{name} {op} {bound:g}", "value": value, "met": met}


def targets_table(checked: list[dict]) -> str:
    lines = ["| target | measured | met |", "| --- | --- | --- |"]
    for t in checked:
        value = "-" if t["value"] is None else f"{t['value']:.3g}"
        met = {True: "yes", False: "**no**", None: "not run (needs a GPU)"}[t["met"]]
        lines.append(f"| {t['target']} | {value} | {met} |")
    return "\n".join(lines)


def _rows(r: dict) -> list[tuple[str, str, str]]:
    s = r["settings"]
    px = f"{s['image_size']} px, batch {s['batch_size']}"
    feats = r["features"]
    return [
        *_data_rows(r["data"], ", uint8 out" if s["normalize_on_device"] else ""),
        *_training_rows(r["training"], r["end_to_end"], px),
        ("frozen epoch over images", f"{feats['images_epoch_s']:.2f} s", ""),
        (
            "frozen epoch over cached features",
            f"{feats['features_epoch_s']:.3f} s",
            f"{feats['speedup']:.0f}x faster",
        ),
        ("computing the features (once: train + val)", f"{feats['compute_features_s']:.1f} s", ""),
        (f"inference ({px})", _rate(r["inference"]["images_per_s"]), ""),
        *_memory_rows(r["memory"]),
    ]


def _data_rows(data: dict, uint8: str) -> list[tuple[str, str, str]]:
    baseline = data["baseline_images_per_s"]
    return [
        ("data: ImageFolder + PIL, original files", _rate(baseline), ""),
        (
            f"data: fracture, cold (1st epoch, fills the cache{uint8})",
            _rate(data["cold_images_per_s"]),
            f"{data['cold_images_per_s'] / baseline:.2f}x baseline",
        ),
        (
            f"data: fracture, warm (pixel cache{uint8})",
            _rate(data["warm_images_per_s"]),
            f"{data['warm_vs_baseline']:.2f}x baseline",
        ),
        ("data: fracture set-up (file inspection, once)", f"{data['setup_s']:.1f} s", ""),
    ]


def _training_rows(train: dict, end: dict, px: str) -> list[tuple[str, str, str]]:
    rows = []
    for mode, label in (("frozen", "frozen"), ("finetuned", "fine-tuned")):
        t = train[mode]
        overhead = f"{t['lightning_overhead']:+.1%} step time vs plain"
        rows += [
            (f"train {label}, plain PyTorch loop ({px})", _rate(t["plain_images_per_s"]), ""),
            (f"train {label}, Lightning ({px})", _rate(t["lightning_images_per_s"]), overhead),
        ]
    return [
        *rows,
        ("train frozen / fine-tuned (Lightning)", f"{train['frozen_vs_finetuned']:.2f}x", ""),
        (
            f"train fine-tuned end to end, augmented, from the cache ({px})",
            _rate(end["images_per_s"]),
            f"waiting for data: {end['data_wait_share']:.1%} of the median step, "
            f"{end['data_wait_share_total']:.1%} of all",
        ),
    ]


def _memory_rows(memory: dict) -> list[tuple[str, str, str]]:
    rows = [
        ("peak RSS, this process", f"{memory['rss_mib']['process']:.0f} MiB", ""),
        ("peak RSS, largest child process", f"{memory['rss_mib']['largest_child']:.0f} MiB", ""),
    ]
    for name, mib in memory["cuda_peak_mib"].items():
        if mib is not None:
            rows.append((f"peak CUDA memory, {name}", f"{mib:.0f} MiB", ""))
    return rows


def _rate(images_per_s: float) -> str:
    return f"{images_per_s:,.1f} img/s"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
