"""The run directory's file names: the shipped callbacks write what the tools look for."""

from pathlib import Path

from omegaconf import OmegaConf

from fracture import run_files
from fracture.callbacks.preemption import CheckpointOnSigterm
from fracture.resume import latest_checkpoint
from fracture.trained.checkpoints import resolve_checkpoint
from tests.conftest import CONF_DIR


def shipped_callbacks():
    return OmegaConf.load(Path(CONF_DIR) / "callbacks" / "default.yaml")


def test_the_yaml_gives_lightning_the_layouts_names():
    callbacks = shipped_callbacks()
    for name in ("model_checkpoint", "last_checkpoint", "sigterm_checkpoint"):
        dirpath = OmegaConf.to_container(callbacks[name])["dirpath"]
        assert dirpath == "${paths.output_dir}/" + run_files.CHECKPOINT_DIR
    assert callbacks.model_checkpoint.filename == run_files.BEST_CHECKPOINT
    assert callbacks.last_checkpoint.filename == run_files.LAST_CHECKPOINT
    sigterm = CheckpointOnSigterm(dirpath="unused").path
    assert sigterm.name == f"{run_files.LAST_CHECKPOINT}.ckpt"


def test_the_tools_find_the_files_by_those_names(tmp_path):
    # Lightning formats "best-epoch{epoch:02d}" as best-epoch07; the tools must find it.
    folder = tmp_path / run_files.CHECKPOINT_DIR
    folder.mkdir()
    best = folder / (run_files.BEST_CHECKPOINT.format(epoch=7) + ".ckpt")
    last = folder / f"{run_files.LAST_CHECKPOINT}.ckpt"
    best.touch()
    last.touch()
    assert resolve_checkpoint(tmp_path) == best
    assert latest_checkpoint(tmp_path) == last
