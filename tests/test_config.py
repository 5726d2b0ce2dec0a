"""Every config group composes from the real conf/ and instantiates what it names."""

import datetime

import lightning as L
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from lightning.pytorch.strategies import DDPStrategy

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
    assert (freeze.unfreeze_at_epoch is None) == ("frozen" in choice)


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


def test_ddp_cpu_trainer_spawns_two_gloo_ranks(tmp_path):
    trainer = instantiate(
        compose_config(["trainer=ddp_cpu", f"paths.output_dir={tmp_path}"]).trainer
    )
    assert isinstance(trainer.strategy, DDPStrategy)
    assert trainer.strategy._start_method == "spawn"  # not a re-run of the command line
    assert trainer.num_devices == 2 and trainer.strategy._process_group_backend == "gloo"
    # A stuck collective ends the run instead of hanging (issue 18).
    assert trainer.strategy._timeout == datetime.timedelta(minutes=10)


def test_ddp_configs_compose(monkeypatch):
    cfg = compose_config(["trainer=ddp"])
    assert cfg.trainer.strategy.start_method == "spawn" and cfg.trainer.devices == -1
    monkeypatch.setenv("SLURM_GPUS_ON_NODE", "4")
    monkeypatch.setenv("SLURM_NNODES", "3")
    multinode = compose_config(["trainer=ddp_multinode"]).trainer
    assert (multinode.devices, multinode.num_nodes) == (4, 3)
    assert "start_method" not in multinode.strategy  # SLURM or torchrun starts the ranks
    assert cfg.trainer.strategy.timeout.seconds == multinode.strategy.timeout.seconds == 1800


def test_sweep_configs_compose():
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose(
            "train",
            overrides=["hparams_search=optuna", "hydra/launcher=slurm"],
            return_hydra_config=True,
        )
    sweeper, launcher = cfg.hydra.sweeper, cfg.hydra.launcher
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "maximize"
    assert set(sweeper.params) == {
        "model.optimizer.lr",
        "finetune.lr_factor",
        "finetune.unfreeze_at_epoch",
        "finetune.layers",
    }
    assert cfg.optimized_metric.startswith("val/") and cfg.name == "finetune"
    assert launcher._target_.endswith("SlurmLauncher") and launcher.max_num_timeout > 0
    assert sweeper.max_failure_rate == 1.0  # a failed trial does not end the search


@pytest.mark.parametrize("trainer", ["cpu", "gpu", "ddp", "ddp_multinode"])
def test_slurm_launcher_composes_with_every_trainer(trainer):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose(
            "train",
            overrides=[
                f"trainer={trainer}",
                "hydra/launcher=slurm",
                "hydra.launcher.nodes=2",
                "hydra.launcher.gpus_per_node=4",
            ],
            return_hydra_config=True,
        )
    launcher = cfg.hydra.launcher
    assert (launcher.nodes, launcher.gpus_per_node, launcher.tasks_per_node) == (2, 4, 4)
