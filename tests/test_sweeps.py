"""Sweeps as a user launches them: Optuna, submitit with a failing job, single-run failures."""

import json
import sys
from pathlib import Path

import pytest
import yaml

from fracture.run_files import read_metrics
from tests.callbacks import assert_ranks_identical
from tests.launch import launch

TRAIN = str(Path(sys.executable).parent / "fracture-train")


def tiny_overrides(root, tmp_path) -> list[str]:
    return [
        "data=folder",
        f"data.root={root}",
        f"data.cache_dir={tmp_path / 'cache'}",
        "data.image_size=32",
        "data.resize_size=32",
        "data.num_workers=0",
        "trainer.max_epochs=2",  # progress bar on: as users launch it (issue 18)
        f"paths.log_dir={tmp_path / 'logs'}",
    ]


def run(*args):
    return launch(*args, timeout=600)


@pytest.mark.slow
@pytest.mark.e2e
def test_optuna_search_reports_the_best_trial_and_survives_a_failing_one(tiny_root, tmp_path):
    sweep = tmp_path / "sweep"
    result = run(
        TRAIN,
        "-m",
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.sampler.n_startup_trials=3",
        # Trials that draw the missing checkpoint fail as they start fitting.
        "+hydra.sweeper.params.ckpt_path='choice(last,/no/such.ckpt)'",
        "model.backbone=resnet18",
        *tiny_overrides(tiny_root, tmp_path),
        f"hydra.sweep.dir={sweep}",
    )
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    finished = [read_metrics(p.parent) for p in sweep.glob("*/metrics.json")]
    failed = list(sweep.glob("*/error.json"))
    assert len(finished) + len(failed) == 4 and finished and failed, result.stderr[-3000:]
    # The search finished; the exit status reports the failed trials.
    assert result.returncode == 1 and "job(s) of the sweep failed" in result.stderr
    assert best["best_value"] == max(t["val/auroc"] for t in finished)
    params = best["best_params"]
    assert 1e-5 <= params["model.optimizer.lr"] <= 1e-2
    assert 0 <= params["finetune.unfreeze_at_epoch"] < 5
    assert params["finetune.layers"] in (1, 2, "all")
    assert params["ckpt_path"] == "last"  # the failed trials are not the best
    # Refused before training by the configuration check (issue 17), one line.
    assert "ckpt_path=/no/such.ckpt is missing" in json.loads(failed[0].read_text())["error"]


@pytest.mark.slow
@pytest.mark.e2e
def test_failing_job_is_recorded_and_the_sweep_goes_on(tiny_root, tmp_path):
    sweep = tmp_path / "sweep"
    result = run(
        TRAIN,
        "-m",
        "hydra/launcher=submitit_local",
        "model.backbone=resnet18,not_a_model",
        *tiny_overrides(tiny_root, tmp_path),
        f"hydra.sweep.dir={sweep}",
    )
    # Both jobs ran; the exit status still says that one failed.
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 job(s) of the sweep failed" in result.stderr
    good, bad = (next(sweep.glob(f"*model.backbone-{name}*")) for name in ("resnet18", "not_a"))
    assert read_metrics(good)["test/acc"] is not None
    error = json.loads((bad / "error.json").read_text())["error"]
    assert error.startswith("ConfigError: unknown backbone 'not_a_model'")
    assert "Traceback" in (bad / "error.txt").read_text()

    compare = run(str(Path(TRAIN).parent / "fracture-compare"), str(sweep))
    assert compare.returncode == 0, compare.stderr[-2000:]
    assert f"incomplete run {bad}: failed: ConfigError: unknown backbone" in compare.stdout
    assert "| train | 1 |" in compare.stdout  # the finished job is compared


def test_single_run_failure_is_one_line_and_recorded(tiny_root, tmp_path):
    run_dir = tmp_path / "run"
    result = run(
        sys.executable,
        "-m",
        "fracture.train",
        *tiny_overrides(tiny_root, tmp_path),
        "model.backbone=not_a_model",
        f"hydra.run.dir={run_dir}",
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "fracture-train: error: unknown backbone 'not_a_model'; "
        "use a torchvision classification model such as resnet50"
    )
    assert "ConfigError" in json.loads((run_dir / "error.json").read_text())["error"]


@pytest.mark.slow
@pytest.mark.e2e
def test_multirun_of_ddp_jobs_gives_one_directory_per_job(tiny_root, tmp_path):
    sweep = tmp_path / "sweep"
    result = run(
        TRAIN,
        "-m",
        "trainer=ddp_cpu",
        "experiment=frozen,frozen_features",
        "model.backbone=resnet18",
        "+callbacks.dump._target_=tests.callbacks.SaveRankWeights",
        "+callbacks.dump.dirpath=${paths.output_dir}/ranks",
        *tiny_overrides(tiny_root, tmp_path),
        f"hydra.sweep.dir={sweep}",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # Each job's two ranks ran inside that job: two run directories, not one per rank, and
    # no rank re-ran the sweep.
    run_dirs = sorted(p for p in sweep.iterdir() if p.is_dir())
    experiments = sorted(read_metrics(p)["experiment"] for p in run_dirs)
    assert len(run_dirs) == 2 and experiments == ["frozen", "frozen_features"]
    assert all(read_metrics(p)["test/acc"] is not None for p in run_dirs)
    for run_dir in run_dirs:
        assert_ranks_identical(run_dir / "ranks")
    assert not (tmp_path / "logs").exists()


@pytest.mark.slow
def test_config_error_in_a_spawned_rank_is_one_line(tiny_root, tmp_path):
    # BackboneFreeze checks the layer names in its setup, which runs in the DDP ranks.
    result = run(
        sys.executable,
        "-m",
        "fracture.train",
        *tiny_overrides(tiny_root, tmp_path),
        "model.backbone=resnet18",
        "trainer=ddp_cpu",
        "experiment=finetune",
        "finetune.layers=[no_such_layer]",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("fracture-train: error: unknown backbone layers ['no_such_layer']")
    assert "FractureError: unknown backbone layers" in (tmp_path / "run" / "error.json").read_text()
