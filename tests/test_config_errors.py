"""Every configuration error ends a tool with one line naming the key; tracebacks go to the log."""

import os
import subprocess
import sys

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from fracture import train as train_module
from fracture.config_checks import TRAIN, check_config, check_resume_checkpoint
from fracture.data.sources import ClassFolders, FracAtlas, Mura, SplitFolders
from fracture.deploy.cli import export_checkpoint
from fracture.errors import ConfigError, DataError
from fracture.evaluation.cli import evaluate_checkpoint
from fracture.inference.predict_cli import run_prediction
from fracture.serve.cli import build_app
from tests.conftest import CONF_DIR, compose_config, tiny_data


def run_train_main(monkeypatch, *overrides: str) -> SystemExit:
    """``fracture-train overrides...`` in this process; the SystemExit it ends with."""
    monkeypatch.setattr(sys, "argv", ["fracture-train", *overrides])
    GlobalHydra.instance().clear()
    with pytest.raises(SystemExit) as ended:
        train_module.main()
    return ended.value


def tiny(tiny_root, tmp_path) -> list[str]:
    return [
        *tiny_data(tiny_root, tmp_path / "cache"),
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]


def assert_one_line(ended: SystemExit, *expected: str) -> None:
    message = ended.code
    assert isinstance(message, str), f"exit code {message!r}, not a message"
    assert message.startswith("fracture-train: error: ") and "\n" not in message, message
    for text in expected:
        assert text in message, message


@pytest.fixture(scope="module")
def bad_checkpoints(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("ckpts")
    (folder / "text.ckpt").write_text("not a checkpoint\n")
    torch.save({"state_dict": {}, "code": _RunsCode()}, folder / "hostile.ckpt")
    return {"text": folder / "text.ckpt", "hostile": folder / "hostile.ckpt", "dir": folder}


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


@pytest.mark.parametrize(
    "override, expected",
    [
        ("trainer.max_epochs=abc", ["trainer.max_epochs='abc'", "whole number"]),
        ("trainer.max_epochs=-1", ["trainer.max_epochs=-1", "1 or more"]),
        ("data.batch_size=big", ["data.batch_size='big'"]),
        ("data.batch_size=-4", ["data.batch_size=-4"]),
        ("data.root=???", ["data.root must be set", "data.root=<value>"]),
        ("ckpt_path=HOSTILE", ["ckpt_path=", "refused unread"]),
        ("data.root=A_FILE", ["is a file, not a folder"]),
    ],
)
def test_reported_errors_end_fracture_train_with_one_line(
    monkeypatch, tiny_root, tmp_path, bad_checkpoints, override, expected
):
    a_file = tmp_path / "data.zip"
    a_file.write_bytes(b"PK")
    override = override.replace("HOSTILE", str(bad_checkpoints["hostile"]))
    override = override.replace("A_FILE", str(a_file))
    ended = run_train_main(monkeypatch, *tiny(tiny_root, tmp_path), override)
    assert_one_line(ended, *expected)
    assert "Traceback" in (tmp_path / "run" / "train.log").read_text()  # kept for debugging
    assert not (tmp_path / "run" / "checkpoints").exists()  # refused before training


@pytest.fixture(scope="module")
def train_cfg():
    return compose_config(["data=folder", "data.root=/data"])


@pytest.mark.parametrize(
    "key, value",
    [
        ("trainer.max_epochs", 0),
        ("trainer.max_epochs", 2.5),
        ("trainer.max_epochs", True),
        ("trainer.min_epochs", -1),
        ("data.image_size", 0),
        ("data.resize_size", "big"),
        ("data.num_workers", -1),
        ("data.num_workers", "many"),
        ("data.max_pixels", -5),
        ("seed", "abc"),
        ("model.optimizer.lr", 0),
        ("model.optimizer.lr", "fast"),
        ("evaluation.threshold.fixed", 1.5),
        ("evaluation.bootstrap.resamples", -1),
        ("evaluation.bootstrap.level", 1),
        ("test", "yes"),
    ],
)
def test_each_kind_of_bad_value_names_its_key(train_cfg, key, value):
    cfg = train_cfg.copy()
    OmegaConf.update(cfg, key, value)
    with pytest.raises(ConfigError) as error:
        check_config(cfg, TRAIN)
    assert str(error.value).startswith(f"{key}={value!r} is not ")


def test_the_shipped_values_pass(train_cfg):
    cfg = train_cfg.copy()
    check_config(cfg, TRAIN)  # `data.num_workers: auto` among them
    OmegaConf.update(cfg, "seed", None)
    check_config(cfg, TRAIN)


@pytest.mark.parametrize("kind", ["text", "dir", "missing"])
def test_a_resume_checkpoint_must_be_a_checkpoint_file(bad_checkpoints, tmp_path, kind):
    path = bad_checkpoints.get(kind, tmp_path / "missing.ckpt")
    with pytest.raises(ConfigError, match=f"^ckpt_path={path} (is a folder|is missing|is not a)"):
        check_resume_checkpoint(str(path))


def test_an_unexpected_error_is_one_line_pointing_at_the_log(
    monkeypatch, tiny_root, tmp_path, capsys
):
    def broken(cfg):
        raise RuntimeError("something deep\nbroke")

    monkeypatch.setattr(train_module, "train", broken)
    ended = run_train_main(monkeypatch, *tiny(tiny_root, tmp_path))
    log_file = tmp_path / "run" / "train.log"
    assert_one_line(ended, "RuntimeError: something deep", str(log_file), "hydra.verbose=true")
    assert "broke" in log_file.read_text()
    capsys.readouterr()
    ended = run_train_main(monkeypatch, *tiny(tiny_root, tmp_path), "hydra.verbose=true")
    assert ended.code == 1 and "Traceback" in capsys.readouterr().err  # Hydra printed it


@pytest.mark.slow
def test_console_script_prints_only_the_line_and_fails(tiny_root, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "fracture.train", *tiny(tiny_root, tmp_path), "data.batch_size=big"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "fracture-train: error: data.batch_size='big' is not a whole number of 1 or more; "
        "e.g. data.batch_size=8"
    ]


@pytest.mark.parametrize(
    "tool, overrides, key",
    [
        ("predict", ["batch_size=-4", "inputs=x"], "batch_size=-4"),
        ("predict", ["num_workers=many", "inputs=x"], "num_workers='many'"),
        ("predict", ["follow_symlinks=maybe", "inputs=x"], "follow_symlinks='maybe'"),
        ("predict", [], "inputs must be set"),
        ("eval", ["data=folder"], "data.root must be set"),
        ("eval", ["data=folder", "data.root=x", "data.batch_size=big"], "data.batch_size='big'"),
        ("export", ["opset=abc"], "opset='abc'"),
        ("serve", ["threads=two"], "threads='two'"),
        ("serve", ["port=-1"], "port=-1"),
    ],
)
def test_other_tools_check_their_values_first(tmp_path, tool, overrides, key):
    needs_ckpt = [f"ckpt={tmp_path / 'never-loaded.ckpt'}"]
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose(tool, overrides=[*needs_ckpt, *overrides])
    call = {
        "predict": lambda: run_prediction(cfg, tmp_path),
        "eval": lambda: evaluate_checkpoint(cfg, tmp_path),
        "export": lambda: export_checkpoint(cfg),
        "serve": lambda: build_app(cfg),
    }[tool]
    with pytest.raises(ConfigError) as error:
        call()
    assert key in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("source", [SplitFolders, ClassFolders, FracAtlas, Mura])
def test_every_folder_source_calls_a_file_root_a_file(tmp_path, source):
    a_file = tmp_path / "dataset.tar"
    a_file.write_bytes(b"")
    with pytest.raises(DataError, match=f"^data root {a_file} is a file, not a folder; set"):
        source(a_file).splits()
