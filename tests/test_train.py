"""train(cfg) end to end: run directory, checkpoint contents, metrics, TensorBoard."""

import json

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from sklearn import metrics as skm
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from fracture.models import FractureClassifier
from fracture.tensorboard import HPARAMS
from fracture.train import train
from fracture.trained.checkpoints import load_classifier, resolve_checkpoint


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["frozen", "finetune"])
def test_train_writes_the_run_directory(tiny_cfg, tmp_path, experiment):
    # The real default model (ResNet50), shrunk data and epochs.
    cfg = tiny_cfg(f"experiment={experiment}", "model.backbone=resnet50")
    metrics = train(cfg)
    run = tmp_path / "run"
    on_disk = json.loads((run / "metrics.json").read_text())
    assert on_disk == json.loads(json.dumps(metrics))  # what train() returns is what it wrote
    for key in ("test/acc", "test/f1", "test/precision", "test/recall", "test/auroc", "test/loss"):
        assert 0 <= on_disk[key] <= (1 if key != "test/loss" else 100), key
    assert on_disk["experiment"] == experiment and on_disk["epochs"] == 2
    assert np.sum(on_disk["test/confusion_matrix"]) == 8  # every test image counted once
    assert (run / "config.yaml").read_text().count(f"name: {experiment}") == 1
    assert (run / on_disk["best_checkpoint"]).is_file()
    assert (run / "confusion_matrix.png").stat().st_size > 1000
    assert list(run.glob("events.out.tfevents.*"))


def test_checkpoints_carry_preprocessing_and_decision_apart(tiny_cfg, tmp_path):
    metrics = train(
        tiny_cfg("experiment=frozen", "trainer.max_epochs=1", "evaluation.threshold.policy=youden")
    )
    run = tmp_path / "run"
    best = run / metrics["best_checkpoint"]
    written = best.stat().st_mtime_ns
    meta = torch.load(best, weights_only=True)["fracture"]
    assert meta["format"] == 2
    preprocessing, decision = meta["preprocessing"], meta["decision"]
    assert (preprocessing["image_size"], preprocessing["resize_size"]) == (32, 32)
    assert preprocessing["fit"] == "resize"  # data.fit of conf/data/_common.yaml
    assert not {"threshold", "temperature", "class_names"} & set(preprocessing)
    # Lightning's checkpoint carries the default decision; the chosen one is the trained
    # model's, written once beside it (the best checkpoint is never rewritten).
    assert decision == {
        "threshold": 0.5,
        "temperature": 1.0,
        "class_names": ["not_fractured", "fractured"],
        "chosen_by": None,
    }
    trained = torch.load(run / metrics["model"], weights_only=True)
    assert trained["fracture"]["decision"]["threshold"] == metrics["threshold"]["value"]
    assert trained["fracture"]["decision"]["chosen_by"] == "youden on val"
    assert trained["fracture"]["preprocessing"] == preprocessing
    assert "optimizer_states" not in trained  # the model, not the training state
    assert best.stat().st_mtime_ns == written
    model = FractureClassifier.load_from_checkpoint(run / metrics["model"])  # no ImageNet fetch
    assert model.preprocessing.image_size == 32
    assert model.decision.class_names == ("not_fractured", "fractured")
    assert torch.equal(model.head.weight, load_classifier(best).head.weight)
    assert resolve_checkpoint(run) == run / "model.ckpt"


def test_epoch_metrics_match_scikit_learn(tiny_cfg, tmp_path):
    # The per-epoch curves (val_epoch/*, threshold 0.5), computed here by Lightning's validation
    # loop over the test images.
    cfg = tiny_cfg("experiment=finetune", "trainer.max_epochs=1", "test=false")
    train(cfg)
    checkpoint = tmp_path / "run" / "checkpoints" / "last.ckpt"
    model = FractureClassifier.load_from_checkpoint(checkpoint).eval()
    datamodule = instantiate(cfg.data)
    datamodule.setup("test")
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[])
    logged = trainer.validate(model, dataloaders=datamodule.test_dataloader())[0]

    # Independent reference: a plain loop over the same images, scored by scikit-learn.
    probabilities, labels = [], []
    with torch.no_grad():
        for images, targets in datamodule.test_dataloader():
            probabilities.append(model(images).softmax(1)[:, 1])
            labels.append(targets)
    p, y = torch.cat(probabilities).numpy(), torch.cat(labels).numpy()
    predicted = (p >= 0.5).astype(int)
    expected = {
        "val_epoch/acc": skm.accuracy_score(y, predicted),
        "val_epoch/f1": skm.f1_score(y, predicted, zero_division=0),
        "val_epoch/precision": skm.precision_score(y, predicted, zero_division=0),
        "val_epoch/recall": skm.recall_score(y, predicted, zero_division=0),
        "val_epoch/auroc": skm.roc_auc_score(y, p),
        # Validation mirrors the test evaluation's metrics.
        "val_epoch/specificity": skm.recall_score(y, predicted, pos_label=0, zero_division=0),
        "val_epoch/balanced_acc": skm.balanced_accuracy_score(y, predicted),
        "val_epoch/auprc": skm.average_precision_score(y, p),
    }
    for key, value in expected.items():
        assert logged[key] == pytest.approx(value, abs=1e-5), key


def test_hparams_tab_gets_final_metrics_and_no_placeholder(tiny_cfg, tmp_path):
    metrics = train(tiny_cfg("experiment=frozen", "trainer.max_epochs=1"))
    events = EventAccumulator(str(tmp_path / "run"))
    events.Reload()
    scalars = events.Tags()["scalars"]
    assert "hp_metric" not in scalars
    assert "train/loss_epoch" in scalars
    content = events.PluginTagToContent("hparams")
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    metric_names = {info.name.tag for info in experiment.experiment.metric_infos}
    assert {"test/acc", "test/auroc", "val/auroc", "val/specificity"} <= metric_names
    assert not any(name.startswith("val_epoch/") for name in metric_names)  # curves, not results
    hparam_names = {info.name for info in experiment.experiment.hparam_infos}
    # The curated columns only: no _target_, paths or worker counts.
    assert hparam_names == set(HPARAMS)
    session = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/session_start_info"]
    ).session_start_info.hparams
    assert session["experiment"].string_value == "frozen"
    assert session["finetune/unfreeze_at_epoch"].string_value == "None"
    # The final validation numbers are metrics.json's, under its names, at the last step: one
    # point, apart from the per-epoch curve (val_epoch/auroc).
    final = events.Scalars("val/auroc")
    assert [(e.step, e.value) for e in final] == [
        (events.Scalars("test/auroc")[-1].step, pytest.approx(metrics["val/auroc"]))
    ]


def test_tensorboard_groups_put_the_stages_first(tiny_cfg, tmp_path):
    train(tiny_cfg("experiment=finetune", "test=false"))
    events = EventAccumulator(str(tmp_path / "run"))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    groups = sorted({tag.split("/")[0] for tag in scalars})
    assert groups == ["train", "val_epoch", "z_schedule"]  # test=false: no results
    assert {"z_schedule/epoch", "z_schedule/params/trainable"} <= scalars
    assert any(tag.startswith("z_schedule/lr-Adam") for tag in scalars)
    # The validation curves have the names of the results.
    for name in ("acc", "balanced_acc", "f1", "precision", "recall", "specificity", "auprc"):
        assert f"val_epoch/{name}" in scalars, name


def test_parameter_counts_are_logged(tiny_cfg, tmp_path):
    train(tiny_cfg("experiment=finetune", "logger=csv"))
    rows = (tmp_path / "run" / "csv" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    trainable = [r.split(",")[header.index("params/trainable")] for r in rows[1:]]
    trainable = [float(v) for v in trainable if v]
    assert len(trainable) == 2 and trainable[0] < trainable[1]  # head only, then all


def test_train_without_checkpointing_tests_the_final_weights(tiny_cfg, tmp_path):
    cfg = tiny_cfg("callbacks=none", "trainer.max_epochs=1", "+trainer.enable_checkpointing=false")
    metrics = train(cfg)
    assert metrics["best_checkpoint"] is None
    assert np.sum(metrics["test/confusion_matrix"]) == 8
    assert not (tmp_path / "run" / "checkpoints").exists()
