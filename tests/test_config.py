"""Every config group composes from the real conf/ and instantiates what it names."""

import lightning as L
import pytest
from hydra.utils import instantiate

from fracture.callbacks import BackboneFreeze
from fracture.data import FractureDataModule
from fracture.models import FractureClassifier
from tests.conftest import CONF_DIR, compose_config


def choices(group: str) -> list[str]:
    # Files starting with "_" are shared bases that the choices include, not choices.
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml") if not p.stem.startswith("_"))


def test_every_group_has_choices():
    for group in ("data", "model", "finetune", "trainer", "logger", "callbacks", "experiment"):
        assert choices(group), group


@pytest.mark.parametrize("choice", choices("data"))
def test_data_configs(choice, tmp_path):
    cfg = compose_config([f"data={choice}", f"data.root={tmp_path}"])
    datamodule = instantiate(cfg.data)
    assert isinstance(datamodule, FractureDataModule)
    assert type(datamodule.source).__name__ == SOURCES[choice]
    assert str(tmp_path) in repr(datamodule.source)
    assert datamodule.max_pixels == 100_000_000 and datamodule.balance == "none"


SOURCES = {
    "class_folders": "ClassFolders",
    "csv": "CsvManifest",
    "folder": "SplitFolders",
    "fracatlas": "FracAtlas",
    "mura": "Mura",
    "synthetic": "SplitFolders",
}


@pytest.mark.parametrize("choice", choices("model"))
def test_model_configs(choice):
    model = instantiate(compose_config([f"model={choice}"]).model)
    assert isinstance(model, FractureClassifier)
    assert model.head.out_features == 2


@pytest.mark.parametrize("choice", choices("finetune"))
def test_finetune_configs(choice):
    assert isinstance(instantiate(compose_config([f"finetune={choice}"]).finetune), BackboneFreeze)


@pytest.mark.parametrize("choice", choices("experiment"))
def test_experiments_set_name_and_finetune(choice):
    cfg = compose_config([f"experiment={choice}"])
    assert cfg.name == choice
    freeze = instantiate(cfg.finetune)
    assert (freeze.unfreeze_at_epoch is None) == (choice == "frozen")


@pytest.mark.parametrize("group", ["callbacks", "logger"])
def test_callback_and_logger_configs(group, tmp_path):
    for choice in choices(group):
        cfg = compose_config([f"{group}={choice}", f"paths.output_dir={tmp_path}"])
        objects = [instantiate(node) for node in (cfg[group] or {}).values()]
        assert all(obj is not None for obj in objects), choice


def test_trainer_cpu_config(tmp_path):
    cfg = compose_config([f"paths.output_dir={tmp_path}"])
    assert isinstance(instantiate(cfg.trainer), L.Trainer)


def test_trainer_gpu_config_composes():
    cfg = compose_config(["trainer=gpu"])
    assert cfg.trainer.accelerator == "gpu" and cfg.trainer.precision == "bf16-mixed"
