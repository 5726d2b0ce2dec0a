"""The console scripts as a user runs them."""

import subprocess
import sys
from pathlib import Path

import pytest


def run(*args, cwd=None):
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=600)


def test_bad_data_root_is_one_line_error(tmp_path):
    result = run(
        sys.executable,
        "-m",
        "fracture.train",
        "data=folder",
        f"data.root={tmp_path / 'missing'}",
        f"paths.log_dir={tmp_path}",
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("fracture-train: error: data root")
    assert str(tmp_path / "missing") in lines[-1]
    assert "Traceback" not in result.stderr


@pytest.mark.e2e
@pytest.mark.slow
def test_multirun_of_both_experiments_then_compare(tiny_root, tmp_path):
    sweep = tmp_path / "sweep"
    result = run(
        str(Path(sys.executable).parent / "fracture-train"),
        "-m",
        "experiment=frozen,finetune",
        f"data.root={tiny_root}",
        "data.source.synthetic=null",
        f"data.cache_dir={tmp_path / 'cache'}",
        "data.image_size=32",
        "data.resize_size=32",
        "data.num_workers=0",
        "model.backbone=resnet18",
        "trainer.max_epochs=2",
        "trainer.enable_progress_bar=false",
        f"hydra.sweep.dir={sweep}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # Run directories are named by their overrides (data.root is excluded: a path).
    run_dirs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [("experiment-finetune" in p.name, "experiment-frozen" in p.name) for p in run_dirs] == [
        (True, False),
        (False, True),
    ]
    assert not any("data.root" in p.name for p in run_dirs)
    for run_dir in run_dirs:
        assert (run_dir / "metrics.json").is_file()
    lines = result.stdout.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("| experiment | runs")))
    table = lines[start : lines.index("", start)]
    assert [row.split("|")[1].strip() for row in table[2:]] == ["finetune", "frozen"]
    assert any(line.startswith("| finetune vs frozen |") for line in lines)  # the paired table
    assert f"tensorboard --logdir {sweep}" in result.stdout  # absolute: outside the cwd
    assert (sweep / "compare.csv").is_file()
    _check_run_summaries(result.stdout, run_dirs, cwd=Path.cwd())


def _check_run_summaries(stdout: str, run_dirs: list[Path], cwd: Path) -> None:
    """Each job ends with its summary: "job k/2 done", the test metrics, and paths and
    commands that work as printed; the console has a plain line per epoch (not a terminal),
    and train.log holds what the console showed."""
    lines = stdout.splitlines()
    assert [line for line in lines if line.startswith("job ")] == ["job 1/2 done", "job 2/2 done"]
    assert sum(line.startswith("epoch 2: train/acc") for line in lines) == 2
    printed = [line.split(": ", 1)[1] for line in lines if line.startswith("run directory: ")]
    assert sorted((cwd / p).resolve() for p in printed) == [p.resolve() for p in run_dirs]
    for line in (line.strip() for line in lines if " ckpt=" in line):
        script, ckpt = line.split()[0], line.split(" ckpt=")[1].split()[0]
        assert (cwd / script).is_file() and (cwd / ckpt).is_dir(), line
    for run_dir in run_dirs:
        log = (run_dir / "train.log").read_text()
        assert "epoch 2: train/acc" in log and "GPU available" in log and "/2 done" in log
        assert "Tip" not in log
