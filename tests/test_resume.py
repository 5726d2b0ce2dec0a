"""Resume is exact; preemption saves the state; interrupted checkpoint writes lose nothing."""

import os
import re
import signal
import subprocess
import sys

import fsspec.implementations.local as fsspec_local
import pytest
import torch
import yaml
from lightning.pytorch.plugins.io import TorchCheckpointIO

from fracture.errors import ConfigError
from fracture.resume import latest_checkpoint, resumed_config
from fracture.run_files import read_metrics
from fracture.train import train
from tests.conftest import tiny_data

# Head alone for two epochs, then everything: k=1 stops before the unfreeze, k=3 after it.
SCHEDULE = (
    "experiment=finetune",
    "finetune.unfreeze_at_epoch=2",
    "callbacks.early_stopping=null",
)


def weights(run_dir):
    path = run_dir / "checkpoints" / "last.ckpt"
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key].double(), b[key].double(), atol=1e-6, rtol=0), key


@pytest.mark.slow
@pytest.mark.parametrize(("stopped_after", "workers"), [(1, 0), (3, 0), (1, 1), (3, 1)])
def test_resumed_run_ends_as_the_uninterrupted_one(tiny_cfg, tmp_path, stopped_after, workers):
    # With workers, the loader asks its sampler for the resumed epoch's order before
    # Lightning calls set_epoch, so the sampler must start at the right epoch by itself.
    schedule = (*SCHEDULE, f"data.num_workers={workers}")
    whole = tmp_path / "whole"
    train(tiny_cfg(*schedule, "trainer.max_epochs=4", run_dir=whole))

    parts = tmp_path / "parts"
    train(tiny_cfg(*schedule, f"trainer.max_epochs={stopped_after}", run_dir=parts))
    before = weights(parts)
    train(tiny_cfg(*schedule, "trainer.max_epochs=4", "ckpt_path=last", run_dir=parts))

    assert not all(torch.equal(before[k], weights(parts)[k]) for k in before)  # it trained on
    assert_same_weights(weights(whole), weights(parts))
    expected, resumed = read_metrics(whole), read_metrics(parts)
    assert resumed["epochs"] == expected["epochs"] == 4
    for name in ("test/acc", "test/auroc", "test/loss", "val/loss", "best_val"):
        assert resumed[name] == pytest.approx(expected[name], abs=1e-6), name


def test_ckpt_path_last_without_checkpoint_starts_afresh(tiny_cfg, tmp_path):
    metrics = train(tiny_cfg("trainer.max_epochs=1", "ckpt_path=last"))
    assert metrics["epochs"] == 1
    assert latest_checkpoint(tmp_path / "run") == tmp_path / "run" / "checkpoints" / "last.ckpt"


def test_resume_needs_a_run_directory_with_a_checkpoint(tmp_path):
    with pytest.raises(ConfigError, match=r"no config\.yaml there"):
        resumed_config(tmp_path, [])
    (tmp_path / "config.yaml").write_text("name: x\n")
    with pytest.raises(ConfigError, match="no checkpoint to resume from"):
        resumed_config(tmp_path, [])


@pytest.mark.slow
@pytest.mark.e2e
def test_resume_command_continues_in_the_same_directory(tiny_root, tmp_path):
    common = [
        *tiny_data(tiny_root, tmp_path / "cache"),
        "trainer.enable_progress_bar=false",
        f"paths.log_dir={tmp_path / 'logs'}",
    ]
    run_dir = tmp_path / "first"
    first = _train(*common, "trainer.max_epochs=1", f"hydra.run.dir={run_dir}")
    assert first.returncode == 0, first.stderr[-2000:]
    second = _train(f"resume={run_dir}", "trainer.max_epochs=2")
    assert second.returncode == 0, second.stderr[-2000:]
    assert read_metrics(run_dir)["epochs"] == 2
    assert not (tmp_path / "logs").exists()  # no new run directory was created
    assert "max_epochs: 1" in (run_dir / "config.yaml").read_text()  # the run's own record


def _train(*overrides):
    command = [sys.executable, "-m", "fracture.train", *overrides]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def test_sigterm_saves_the_state_and_the_run_resumes(tiny_cfg, tmp_path):
    cfg = tiny_cfg(
        "trainer.max_epochs=3",
        "callbacks.early_stopping=null",
        "+callbacks.stop._target_=tests.callbacks.SignalAt",
        "+callbacks.stop.epoch=1",
        "+callbacks.stop.batch=0",
    )
    with pytest.raises(SystemExit):  # Lightning's SIGTERMException
        train(cfg)
    saved = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert (saved["epoch"], saved["global_step"]) == (
        1,
        3,
    )  # mid-epoch 1: 2 batches + the one under way

    metrics = train(tiny_cfg("trainer.max_epochs=3", "ckpt_path=last"))
    assert metrics["epochs"] == 3
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_interrupted_checkpoint_write_keeps_the_previous_one(tiny_cfg, tmp_path, monkeypatch):
    train(tiny_cfg("trainer.max_epochs=1"))
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    before = last.read_bytes()
    newer = torch.load(last, weights_only=True)
    newer["epoch"] += 1
    original_write = fsspec_local.LocalFileOpener.write

    def dies_halfway(self, data):
        original_write(self, bytes(data)[: len(data) // 2])
        raise KeyboardInterrupt  # the process is stopped mid-write

    monkeypatch.setattr(fsspec_local.LocalFileOpener, "write", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        TorchCheckpointIO().save_checkpoint(newer, last)  # how Lightning writes checkpoints
    monkeypatch.undo()

    assert last.read_bytes() == before
    assert torch.load(last, weights_only=True)["epoch"] == newer["epoch"] - 1
    assert sorted(p.name for p in last.parent.iterdir()) == ["best-epoch00.ckpt", "last.ckpt"]


def test_slurm_requeue_signal_saves_a_checkpoint_and_requeues(tiny_cfg, tmp_path, monkeypatch):
    # A fake SLURM job: Lightning's SLURMEnvironment handles SIGUSR1 (sbatch --signal) by
    # saving hpc_ckpt_1.ckpt and running `scontrol requeue <job id>`.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "scontrol.log"}\n')
    scontrol.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    slurm = {"SLURM_NTASKS": "1", "SLURM_JOB_NAME": "fracture", "SLURM_JOB_ID": "4242"}
    for name, value in {**slurm, "SLURM_PROCID": "0", "SLURM_LOCALID": "0"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SLURM_NODEID", "0")
    cfg = tiny_cfg(
        "trainer.max_epochs=2",
        "+callbacks.warn._target_=tests.callbacks.SignalAt",
        "+callbacks.warn.epoch=1",
        "+callbacks.warn.batch=0",
        f"+callbacks.warn.signum={int(signal.SIGUSR1)}",
    )
    train(cfg)
    assert (tmp_path / "scontrol.log").read_text().split() == ["requeue", "4242"]
    saved = torch.load(tmp_path / "run" / "hpc_ckpt_1.ckpt", weights_only=True)
    assert (saved["epoch"], saved["global_step"]) == (1, 2)


def saved_run(run_dir, written_to):
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"")
    config = {"paths": {"output_dir": str(written_to)}, "trainer": {"max_epochs": 3}}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))


def test_resume_refuses_a_moved_run(tmp_path):
    saved_run(tmp_path / "copy", written_to=tmp_path / "original")
    with pytest.raises(ConfigError, match=r"this run was written to .*original"):
        resumed_config(tmp_path / "copy", [])


def test_resume_takes_value_overrides_only(tmp_path):
    saved_run(tmp_path, written_to=tmp_path)
    cfg = resumed_config(tmp_path, ["trainer.max_epochs=20"])
    assert (cfg.trainer.max_epochs, cfg.ckpt_path) == (20, "last")
    for override in ("trainer=ddp", "+trainer.devices=2", "~trainer.max_epochs", "seed=1"):
        with pytest.raises(ConfigError, match=f"resume: {re.escape(override)}"):
            resumed_config(tmp_path, [override])
