"""Checkpoint metadata is validated when loaded, by every tool: one line naming field and file."""

import json
import math

import lightning
import pytest
import torch
from hydra import compose, initialize_config_dir

from fracture.deploy.cli import export_checkpoint
from fracture.errors import DataError
from fracture.evaluation.cli import evaluate_checkpoint
from fracture.inference.predict_cli import run_prediction
from fracture.models.classifier import CHECKPOINT_KEY, FractureClassifier
from fracture.models.decision import Decision
from fracture.serve.cli import build_app
from fracture.trained.predictor import load_predictor
from tests.conftest import CONF_DIR


@pytest.fixture(scope="module")
def checkpoint() -> dict:
    """A real (untrained) resnet18 checkpoint as Lightning writes it, with fracture metadata."""
    model = FractureClassifier("resnet18", weights=None)
    return {
        "state_dict": model.state_dict(),
        "hyper_parameters": dict(model.hparams),
        "pytorch-lightning_version": lightning.__version__,
        CHECKPOINT_KEY: {
            "format": 2,
            "preprocessing": model.preprocessing.to_dict(),
            "decision": Decision(chosen_by="a test").to_dict(),
        },
    }


def save(checkpoint: dict, path, **fields):
    """``checkpoint`` with ``fields`` changed in its preprocessing or decision."""
    meta = checkpoint[CHECKPOINT_KEY]
    decision = {k: v for k, v in fields.items() if k in Decision.__dataclass_fields__}
    preprocessing = {k: v for k, v in fields.items() if k not in decision}
    edited = {
        **meta,
        "preprocessing": {**meta["preprocessing"], **preprocessing},
        "decision": {**meta["decision"], **decision},
    }
    torch.save({**checkpoint, CHECKPOINT_KEY: edited}, path)
    return path


def one_line_error(spec) -> str:
    with pytest.raises(DataError) as error:
        load_predictor(spec)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_a_valid_checkpoint_loads(checkpoint, tmp_path):
    predictor = load_predictor(save(checkpoint, tmp_path / "ok.ckpt", threshold=1.0))
    assert predictor.threshold == 1.0  # a validation score of exactly 1.0 can be chosen


@pytest.mark.parametrize(
    "field, value",
    [
        ("temperature", 0.0),
        ("temperature", -1.0),
        ("temperature", math.nan),
        ("threshold", math.nan),
        ("threshold", 0.0),
        ("threshold", 1.5),
        ("threshold", "0.5"),
        ("class_names", ["fractured"]),
        ("class_names", ["a", "b", "c"]),
        ("image_size", 0),
        ("image_size", -32),
        ("resize_size", 0),
        ("image_size", 32.5),
        ("std", [0.0, 0.2, 0.2]),
        ("std", [math.inf, 0.2, 0.2]),
        ("mean", [math.nan, 0.4, 0.4]),
        ("mean", [0.5, 0.5]),
    ],
)
def test_each_invalid_field_is_refused_naming_it_and_the_file(checkpoint, tmp_path, field, value):
    path = save(checkpoint, tmp_path / "bad.ckpt", **{field: value})
    message = one_line_error(path)
    assert str(path) in message and f"{field}=" in message


def test_a_checkpoint_without_fracture_metadata_is_refused(checkpoint, tmp_path):
    path = tmp_path / "plain.ckpt"
    torch.save({k: v for k, v in checkpoint.items() if k != CHECKPOINT_KEY}, path)
    message = one_line_error(path)
    assert str(path) in message and f"no '{CHECKPOINT_KEY}' metadata" in message


def test_format_1_checkpoints_read_their_decision_from_the_preprocessing(checkpoint, tmp_path):
    # Before format 2 the threshold, temperature and class names sat in "preprocessing".
    meta = checkpoint[CHECKPOINT_KEY]
    old = {"preprocessing": {**meta["preprocessing"], "threshold": 0.3, "temperature": 2.0}}
    old["preprocessing"]["class_names"] = ["intact", "broken"]
    torch.save({**checkpoint, CHECKPOINT_KEY: old}, tmp_path / "old.ckpt")
    predictor = load_predictor(tmp_path / "old.ckpt")
    assert (predictor.threshold, predictor.decision.temperature) == (0.3, 2.0)
    assert predictor.decision.class_names == ("intact", "broken")
    assert predictor.preprocessing == FractureClassifier("resnet18", weights=None).preprocessing


def test_a_training_checkpoint_warns_that_it_decides_at_the_default(checkpoint, tmp_path, caplog):
    undecided = {**checkpoint[CHECKPOINT_KEY], "decision": Decision().to_dict()}
    torch.save({**checkpoint, CHECKPOINT_KEY: undecided}, tmp_path / "best-epoch00.ckpt")
    load_predictor(tmp_path / "best-epoch00.ckpt")
    assert "holds no chosen decision" in caplog.text and "model.ckpt" in caplog.text
    caplog.clear()
    load_predictor(save(checkpoint, tmp_path / "model.ckpt"))
    assert "holds no chosen decision" not in caplog.text


@pytest.mark.parametrize(
    "record, field",
    [
        ({"threshold": math.nan}, "threshold"),
        ({"threshold": 0.0}, "threshold"),
        ({"members": []}, "members"),
    ],
)
def test_ensemble_files_are_validated_too(checkpoint, tmp_path, record, field):
    member = str(save(checkpoint, tmp_path / "m.ckpt"))
    ensemble = tmp_path / "ensemble.json"
    ensemble.write_text(
        json.dumps({"format": 1, "members": [member, member], "threshold": 0.5, **record})
    )
    message = one_line_error(ensemble)
    assert str(ensemble) in message and field in message


def test_an_invalid_member_of_an_ensemble_names_its_file(checkpoint, tmp_path):
    good = save(checkpoint, tmp_path / "good.ckpt")
    bad = save(checkpoint, tmp_path / "bad.ckpt", temperature=0.0)
    assert str(bad) in one_line_error([good, bad])


def _config(name: str, *overrides: str):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        return compose(name, overrides=list(overrides))


@pytest.mark.parametrize(
    "tool",
    [
        lambda ckpt, out: run_prediction(_config("predict", f"ckpt={ckpt}", f"inputs={out}"), out),
        lambda ckpt, out: evaluate_checkpoint(_config("eval", f"ckpt={ckpt}"), out),
        lambda ckpt, out: export_checkpoint(_config("export", f"ckpt={ckpt}", f"out={out}")),
        lambda ckpt, out: build_app(_config("serve", f"ckpt={ckpt}")),
    ],
    ids=["predict", "eval", "export", "serve"],
)
def test_every_tool_refuses_an_invalid_checkpoint(checkpoint, tmp_path, tool):
    path = save(checkpoint, tmp_path / "bad.ckpt", threshold=math.nan)
    with pytest.raises(DataError, match="threshold=nan"):
        tool(path, tmp_path)
