"""logger=mlflow and logger=wandb write real runs (a local MLflow file store, W&B offline)."""

import json

import pytest
from mlflow.tracking import MlflowClient
from omegaconf import open_dict
from wandb.proto import wandb_internal_pb2

from fracture.train import train
from tests.conftest import compose_config


@pytest.mark.slow
def test_mlflow_and_wandb_runs_hold_the_curves_and_the_results(tiny_cfg, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = tiny_cfg("logger=wandb", f"paths.log_dir={tmp_path / 'logs'}")
    with open_dict(cfg):  # both in one run: MLflow's node from its own config file
        cfg.logger.mlflow = compose_config(["logger=mlflow"]).logger.mlflow
    metrics = train(cfg)

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'logs' / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("train").experiment_id])
    assert run.data.tags["run_dir"] == str(tmp_path / "run")
    assert run.data.metrics["test/acc"] == pytest.approx(metrics["test/acc"])
    assert len(client.get_metric_history(run.info.run_id, "val_epoch/loss")) == 2  # one per epoch
    assert run.data.params["model/backbone"] == "resnet18"

    (offline,) = (tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb")
    history = _wandb_history(offline.read_bytes())
    (final,) = [row for row in history if "test/acc" in row]
    assert final["test/acc"] == pytest.approx(metrics["test/acc"])
    assert sum("val_epoch/loss" in row for row in history) == 2  # the curve: one per epoch
    assert sum("val/loss" in row for row in history) == 1  # the result, at the last step


def _wandb_history(data: bytes) -> list[dict]:
    """The history rows of an offline W&B run file: a 7-byte header (":W&B", key, version),
    then LevelDB-log records (7-byte header: crc, length, type) in 32 KiB blocks, each a
    protobuf ``Record``; a record split over blocks comes as FIRST, MIDDLE..., LAST."""
    assert data[:4] == b":W&B"
    rows, position, pending = [], 7, b""
    while position + 7 <= len(data):
        left_in_block = _BLOCK - position % _BLOCK
        if left_in_block < 7:  # block trailer padding
            position += left_in_block
            continue
        length, kind = (
            int.from_bytes(data[position + 4 : position + 6], "little"),
            data[position + 6],
        )
        pending += data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind in (_FULL, _LAST):
            record = wandb_internal_pb2.Record.FromString(pending)
            pending = b""
            if record.WhichOneof("record_type") == "history":
                items = record.history.item
                rows.append(
                    {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in items}
                )
    return rows


def _key(item) -> str:
    return item.key or "/".join(item.nested_key)  # "test/acc" arrives as nested ["test", "acc"]


_BLOCK, _FULL, _LAST = 32768, 1, 4
