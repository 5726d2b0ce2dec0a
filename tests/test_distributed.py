"""DDP on CPU (two gloo processes): the unfreeze, metrics and samplers through train(cfg);
fracture-train launched as users launch it, and a hang reported as one line."""

import datetime
import json
import re
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, roc_auc_score
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import distributed as dist
from torch import multiprocessing as mp

from fracture.data.sampling import EpochSampler
from fracture.evaluation.predictions import predict_samples
from fracture.rank_failures import collective_timeout
from fracture.run_files import read_metrics
from fracture.synth import SyntheticSpec, generate_dataset
from fracture.train import train
from fracture.trained.checkpoints import load_classifier
from tests.callbacks import assert_ranks_identical, load_ranks
from tests.conftest import tiny_config
from tests.launch import launch_train

# 7 validation and 9 test images: two ranks cannot split them evenly, so a sampler that
# pads a rank's share with repeated images would change the metrics.
ODD_SPEC = SyntheticSpec(seed=11, size=48, train=20, val=7, test=9)


@pytest.fixture(scope="module")
def odd_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("odd") / "synthetic"
    generate_dataset(root, ODD_SPEC)
    return root


@pytest.mark.slow
@pytest.mark.e2e
def test_user_launched_ddp_finetune_with_unfreeze_finishes(tiny_root, tmp_path):
    # Issue 18: rank 0's progress bar synced Lightning's epoch metrics while rank 1 gathered
    # torchmetrics states; the ranks waited for each other forever after the first epoch.
    run_dir, ranks = tmp_path / "run", tmp_path / "ranks"
    result = launch_train(
        tiny_root,
        tmp_path,
        "trainer=ddp_cpu",
        "experiment=finetune",
        "finetune.unfreeze_at_epoch=1",
        "+callbacks.dump._target_=tests.callbacks.SaveRankWeights",
        f"+callbacks.dump.dirpath={ranks}",
        f"hydra.run.dir={run_dir}",
        timeout=420,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = read_metrics(run_dir)
    assert metrics["epochs"] == 2 and 0.0 <= metrics["test/acc"] <= 1.0
    assert_ranks_identical(ranks)
    start, end = load_ranks(ranks, "start")[0], load_ranks(ranks, "end")[0]
    # Unfrozen at epoch 1, then trained by both ranks for one step (the stem: residual
    # branches start at zero, so their first convolutions get no gradient in that step).
    conv = "backbone.conv1.weight"
    assert not torch.equal(start[conv], end[conv])
    # The epoch values reached TensorBoard: scalars, and the confusion-matrix figure.
    events = EventAccumulator(str(run_dir))
    events.Reload()
    assert {"train/acc", "val_epoch/auroc", "val_epoch/loss", "z_schedule/params/trainable"} <= set(
        events.Tags()["scalars"]
    )
    assert "val_epoch/confusion_matrix" in events.Tags()["images"]


@pytest.mark.slow
@pytest.mark.e2e
def test_mismatched_collectives_end_the_run_with_one_line(tiny_root, tmp_path):
    result = launch_train(
        tiny_root,
        tmp_path,
        "trainer=ddp_cpu",
        "trainer.max_epochs=1",
        "trainer.strategy.timeout.seconds=10",
        "+callbacks.mismatch._target_=tests.callbacks.MismatchedCollectives",
        f"hydra.run.dir={tmp_path / 'run'}",
        timeout=300,  # well below ddp_cpu's default 600 s: the 10 s timeout ended the wait
    )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    # The rank that timed out first, or (gloo) one whose wait ended with it.
    assert re.fullmatch(
        r"fracture-train: error: rank [01] (timed out after 10 s|was waiting) in "
        r"all_(reduce|gather) in on_train_epoch_end \((.*/)?tests/callbacks\.py:\d+\)"
        r"( when another rank ended)?: a collective that another rank never joined .*"
        r"trainer\.strategy\.timeout\.seconds",
        last,
    ), result.stderr[-3000:]
    assert "CollectiveTimeout" in (tmp_path / "run" / "error.json").read_text()


@pytest.mark.slow
def test_ddp_unfreeze_keeps_ranks_identical_and_metrics_whole(odd_root, tmp_path):
    run_dir = tmp_path / "run"
    cfg = tiny_config(
        odd_root,
        run_dir,
        "trainer=ddp_cpu",
        "experiment=finetune",
        "finetune.unfreeze_at_epoch=1",
        "trainer.max_epochs=3",
        "data.balance=sampler",
        "callbacks.early_stopping=null",
        "+callbacks.dump._target_=tests.callbacks.SaveRankWeights",
        f"+callbacks.dump.dirpath={tmp_path / 'ranks'}",
    )
    metrics = train(cfg)
    assert metrics["epochs"] == 3

    assert_ranks_identical(tmp_path / "ranks")
    start, end = load_ranks(tmp_path / "ranks", "start"), load_ranks(tmp_path / "ranks", "end")
    conv = "backbone.layer1.0.conv1.weight"  # unfrozen at epoch 1: trained by both ranks
    assert not torch.equal(start[0][conv], end[0][conv])
    assert not torch.equal(start[0]["head.weight"], end[0]["head.weight"])

    # Test metrics: the whole split once, as scikit-learn scores the trained model's (the best
    # checkpoint's weights with the chosen decision) predictions made by one process.
    model = load_classifier(run_dir / metrics["model"])
    test = predict_samples(model, _samples(cfg, "test"), batch_size=4)
    probabilities = test.probabilities(model.decision.temperature)
    threshold = model.decision.threshold
    assert len(test.labels) == ODD_SPEC.test
    assert metrics["test/acc"] == pytest.approx(
        accuracy_score(test.labels, probabilities >= threshold)
    )
    assert metrics["test/auroc"] == pytest.approx(roc_auc_score(test.labels, probabilities))
    # The monitored val_epoch/loss, gathered over both ranks during training, equals the loss of
    # the best checkpoint on all 7 validation images in one process.
    val = predict_samples(model, _samples(cfg, "val"), batch_size=4)
    loss = torch.nn.functional.cross_entropy(
        torch.from_numpy(val.logits), torch.from_numpy(val.labels)
    )
    assert metrics["best_val"]["score"] == pytest.approx(float(loss), abs=1e-5)
    assert json.loads((run_dir / "metrics.json").read_text())["test/acc"] == metrics["test/acc"]


def _samples(cfg, split):
    from hydra.utils import instantiate

    datamodule = instantiate(cfg.data)
    datamodule.setup("test")
    return datamodule.samples[split]


def test_rank_shares_partition_the_single_process_order():
    dataset = list(range(11))
    whole = list(EpochSampler(dataset, seed=3, epoch=2))
    shares = [list(EpochSampler(dataset, 3, 2, num_replicas=2, rank=r)) for r in (0, 1)]
    assert sorted(index for index, _ in whole) == list(range(11))
    assert len(shares[0]) == len(shares[1]) == 6  # 11 padded to 12 by wrapping around
    interleaved = [draw for pair in zip(*shares, strict=True) for draw in pair]
    assert interleaved[:11] == whole  # same images, same augmentation seeds, any world size
    assert interleaved[11][0] == whole[0][0]  # the padding repeats an image


def test_epochs_differ_and_repeat_exactly():
    dataset = list(range(50))
    first, second = (list(EpochSampler(dataset, seed=0, epoch=e)) for e in (0, 1))
    assert first != second
    again = EpochSampler(dataset, seed=0)
    again.set_epoch(1)
    assert list(again) == second
    assert list(EpochSampler(dataset, seed=1, epoch=0)) != list(EpochSampler(dataset, 0, 1))


def test_weighted_draws_follow_the_weights_on_every_rank():
    weights = torch.tensor([1.0] * 90 + [9.0] * 10)  # the last 10 drawn half the time
    draws = [
        index
        for epoch in range(20)
        for rank in (0, 1)
        for index, _ in EpochSampler(range(100), 5, epoch, weights, num_replicas=2, rank=rank)
    ]
    assert np.mean(np.array(draws) >= 90) == pytest.approx(0.5, abs=0.05)


def _mismatched_ranks(rank: int, port: int, outdir: Path) -> None:
    dist.init_process_group(
        "gloo",
        f"tcp://127.0.0.1:{port}",
        timeout=datetime.timedelta(seconds=2),
        world_size=2,
        rank=rank,
    )
    value = torch.zeros(1)
    try:
        if rank == 0:
            dist.all_reduce(value)
        else:
            dist.all_gather([torch.zeros(1), torch.zeros(1)], value)
    except RuntimeError as error:  # as a rank started by torchrun or SLURM would see it
        (outdir / f"rank{rank}.txt").write_text(str(collective_timeout(error, rank)))
        time.sleep(1)  # the other rank times out too before this exit closes the connection
        raise


@pytest.mark.slow
def test_collective_timeout_outside_lightning_names_the_function(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(mp.ProcessRaisedException) as raised:
        mp.start_processes(_mismatched_ranks, (port, tmp_path), nprocs=2, start_method="spawn")
    rank = raised.value.error_index
    messages = [str(collective_timeout(raised.value, rank))]  # in the launching process
    messages += [(tmp_path / f"rank{r}.txt").read_text() for r in (0, 1)]  # in the ranks
    for message, r in zip(messages, (rank, 0, 1), strict=True):
        assert re.fullmatch(
            rf"rank {r} (timed out after 2 s|was waiting) in (all_reduce|all_gather) in "
            r"_mismatched_ranks \((.*/)?tests/test_distributed\.py:\d+\).*: a collective .*",
            message,
        ), message
