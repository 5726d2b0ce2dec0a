"""The monitored loss is the exact split loss sum(w * l) / sum(w), however the split is batched."""

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from torch.utils.data import DataLoader, TensorDataset

from fracture.data.balance import class_weights
from fracture.evaluation.predictions import predict_samples
from fracture.models import FractureClassifier
from fracture.synth import SyntheticSpec, generate_dataset
from fracture.train import train
from fracture.trained.checkpoints import load_classifier
from tests.conftest import bare_trainer, tiny_config

# 7 validation images: two ranks get 4 and 3, in batches of 3 (uneven batches and shares).
ODD_SPEC = SyntheticSpec(seed=11, size=48, train=20, val=7, test=2, fractured_fraction=0.3)
WEIGHTS = torch.tensor([0.6, 3.0])  # class 1 counts five times as much


def split_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> float:
    """sum_i w_i l_i / sum_i w_i over the whole split, computed directly."""
    per_image = F.cross_entropy(logits, labels, reduction="none")
    return float((weights[labels] * per_image).sum() / weights[labels].sum())


@pytest.fixture(scope="module")
def features():
    """13 backbone feature vectors (not divisible by 3 or 5) with unbalanced labels."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(13, 512, generator=generator)
    labels = torch.tensor([1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0])
    return inputs, labels


@pytest.mark.parametrize("batch_size", [3, 5])
def test_weighted_val_loss_is_the_split_loss_for_any_batch_size(features, batch_size):
    inputs, labels = features
    model = FractureClassifier("resnet18")
    model.class_weights = WEIGHTS
    trainer = bare_trainer()
    loader = DataLoader(TensorDataset(inputs, labels), batch_size=batch_size)
    logged = trainer.validate(model, loader, verbose=False)[0]["val_epoch/loss"]
    with torch.no_grad():
        expected = split_loss(model.forward_head(inputs), labels, WEIGHTS)
    assert logged == pytest.approx(expected, rel=1e-5)


@pytest.mark.slow
def test_weighted_val_loss_under_ddp_is_the_split_loss(tmp_path):
    generate_dataset(tmp_path / "data", ODD_SPEC)
    run_dir = tmp_path / "run"
    cfg = tiny_config(
        tmp_path / "data",
        run_dir,
        "trainer=ddp_cpu",
        "trainer.max_epochs=1",
        "data.balance=loss_weights",
        "data.batch_size=3",
        "test=false",
        "callbacks.early_stopping=null",
    )
    metrics = train(cfg)
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    model = load_classifier(run_dir / metrics["best_checkpoint"])
    val = predict_samples(model, datamodule.samples["val"], batch_size=7)
    weights = class_weights(datamodule.samples["train"])
    expected = split_loss(torch.from_numpy(val.logits), torch.from_numpy(val.labels), weights)
    assert len(val.labels) == ODD_SPEC.val
    assert metrics["best_val"]["score"] == pytest.approx(expected, abs=1e-5)
