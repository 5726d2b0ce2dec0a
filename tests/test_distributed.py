"""DDP on CPU (two gloo processes) through train(cfg): the unfreeze, metrics, samplers."""

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, roc_auc_score

from fracture.data.sampling import EpochSampler
from fracture.evaluation.checkpoints import load_classifier
from fracture.evaluation.predictions import predict_samples
from fracture.synth import SyntheticSpec, generate_dataset
from fracture.train import train
from tests.conftest import tiny_config

# 7 validation and 9 test images: two ranks cannot split them evenly, so a sampler that
# pads a rank's share with repeated images would change the metrics.
ODD_SPEC = SyntheticSpec(seed=11, size=48, train=20, val=7, test=9)


@pytest.fixture(scope="module")
def odd_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("odd") / "synthetic"
    generate_dataset(root, ODD_SPEC)
    return root


def load_ranks(dirpath, when):
    return [torch.load(dirpath / f"rank{r}-{when}.pt", weights_only=True) for r in (0, 1)]


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

    start, end = load_ranks(tmp_path / "ranks", "start"), load_ranks(tmp_path / "ranks", "end")
    floats = [k for k, v in end[0].items() if v.is_floating_point()]
    assert all(torch.equal(end[0][k], end[1][k]) for k in floats), "ranks drifted apart"
    conv = "backbone.layer1.0.conv1.weight"  # unfrozen at epoch 1: trained by both ranks
    assert not torch.equal(start[0][conv], end[0][conv])
    assert not torch.equal(start[0]["head.weight"], end[0]["head.weight"])

    # Test metrics: the whole split once, as scikit-learn scores the best checkpoint's
    # predictions made by one process.
    best = run_dir / metrics["best_checkpoint"]
    model = load_classifier(best)
    test = predict_samples(model, _samples(cfg, "test"), batch_size=4)
    probabilities = test.probabilities(model.preprocessing.temperature)
    threshold = model.preprocessing.threshold
    assert len(test.labels) == ODD_SPEC.test
    assert metrics["test/acc"] == pytest.approx(
        accuracy_score(test.labels, probabilities >= threshold)
    )
    assert metrics["test/auroc"] == pytest.approx(roc_auc_score(test.labels, probabilities))
    # The monitored val/loss, gathered over both ranks during training, equals the loss of
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
