"""The DataModule's speed options: pixel cache, worker count, normalisation on the device."""

import os
from types import SimpleNamespace

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fracture.callbacks.gradcam import TAG as GRADCAM_TAG
from fracture.data import FractureDataModule
from fracture.data import datamodule as datamodule_module
from fracture.data.datamodule import MAX_AUTO_WORKERS, auto_num_workers
from fracture.data.sources import SplitFolders
from fracture.errors import ConfigError
from fracture.train import train
from tests.augmentation import shipped_augmentation


def _datamodule(root, cache_dir=None, num_workers=0, **options) -> FractureDataModule:
    datamodule = FractureDataModule(
        SplitFolders(root),
        image_size=32,
        resize_size=36,
        batch_size=8,
        num_workers=num_workers,
        augment=shipped_augmentation(),
        cache_dir=cache_dir,
        **options,
    )
    datamodule.setup("fit")
    return datamodule


def _first_batch(loader):
    # The same order and augmentation every time: EpochSampler draws both from (seed, epoch).
    return next(iter(loader))


@pytest.mark.parametrize(
    ("cores", "processes", "workers"),
    [(1, 1, 1), (2, 1, 1), (8, 1, 7), (16, 1, 15), (64, 1, MAX_AUTO_WORKERS), (16, 4, 3)],
)
def test_auto_workers_leave_a_core_per_training_process(monkeypatch, cores, processes, workers):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    assert auto_num_workers(processes) == workers


def test_auto_workers_without_an_affinity_mask(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # macOS, Windows
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert auto_num_workers() == 5


def test_num_workers_setting(tiny_root, monkeypatch):
    monkeypatch.setattr(datamodule_module, "auto_num_workers", lambda processes=1: 3)
    assert FractureDataModule(SplitFolders(tiny_root), num_workers="auto").num_workers == 3
    assert FractureDataModule(SplitFolders(tiny_root), num_workers=0).num_workers == 0
    with pytest.raises(ConfigError, match=r"data\.num_workers"):
        FractureDataModule(SplitFolders(tiny_root), num_workers="many")


def test_loader_options(tiny_root, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    datamodule = _datamodule(tiny_root, num_workers="auto")
    loader = datamodule.train_dataloader()
    assert (loader.num_workers, loader.prefetch_factor, loader.persistent_workers) == (15, 4, True)
    # Under DDP each of a node's 4 processes starts its own workers: the cores are shared.
    progress = SimpleNamespace(epoch_progress=SimpleNamespace(current=SimpleNamespace(processed=0)))
    datamodule.trainer = SimpleNamespace(
        num_devices=4, accelerator=None, world_size=4, global_rank=0, fit_loop=progress
    )
    assert datamodule.val_dataloader().num_workers == 3
    # Under srun each rank is bound to its own cpus_per_task (here all 16 it sees).
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "16")
    assert datamodule.val_dataloader().num_workers == 15
    assert _datamodule(tiny_root, num_workers=0).train_dataloader().prefetch_factor is None


def test_loaders_read_the_pixel_cache(tiny_root, tmp_path):
    cached = _datamodule(tiny_root, tmp_path / "cache")
    fresh = _datamodule(tiny_root, tmp_path / "cache", pixel_cache=False)
    assert fresh.pixel_cache is None and _datamodule(tiny_root).pixel_cache is None
    val_images, _ = next(iter(cached.val_dataloader()))
    assert torch.equal(val_images, next(iter(fresh.val_dataloader()))[0])
    train_images, _ = next(iter(cached.train_dataloader()))
    assert train_images.shape == (8, 3, 32, 32)  # augmentation crops the cached images
    assert len(list((tmp_path / "cache" / "pixels").rglob("*.npy"))) == 16  # 8 val + 8 train


@pytest.mark.parametrize("split", ["train", "val"])
def test_normalising_on_the_device_gives_the_same_model_input(tiny_root, tmp_path, split):
    on_cpu = _datamodule(tiny_root, tmp_path / "cache")
    on_device = _datamodule(tiny_root, tmp_path / "cache", normalize_on_device=True)
    reference, labels = _first_batch(getattr(on_cpu, f"{split}_dataloader")())
    raw, raw_labels = _first_batch(getattr(on_device, f"{split}_dataloader")())
    assert (raw.dtype, raw.shape) == (torch.uint8, (8, 1, 32, 32))
    images, converted_labels = on_device.on_after_batch_transfer((raw, raw_labels), 0)
    torch.testing.assert_close(images, reference, atol=1e-6, rtol=0)
    assert torch.equal(converted_labels, labels)
    # Float batches (evaluation, predict) pass through untouched.
    assert on_device.on_after_batch_transfer((reference, labels), 0)[0] is reference


def test_training_with_uint8_batches_and_gradcam(tiny_cfg, tmp_path):
    # Through Lightning: batches converted after the transfer, and the Grad-CAM grid (which
    # loads validation images itself) converts its uint8 examples too.
    cfg = tiny_cfg(
        "data.normalize_on_device=true",
        "callbacks.gradcam.every_n_epochs=1",
        "trainer.max_epochs=1",
        "test=false",
    )
    assert train(cfg)["epochs"] == 1
    events = EventAccumulator(str(tmp_path / "run"), size_guidance={"images": 0})
    events.Reload()
    assert len(events.Images(GRADCAM_TAG)) == 1


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_options_train_and_convert_like_the_cpu(tiny_root, tiny_cfg, tmp_path):
    on_cpu = _datamodule(tiny_root, tmp_path / "cache")
    on_device = _datamodule(tiny_root, tmp_path / "cache", normalize_on_device=True)
    reference, _ = next(iter(on_cpu.val_dataloader()))
    raw, labels = next(iter(on_device.val_dataloader()))
    images, _ = on_device.on_after_batch_transfer((raw.cuda(), labels.cuda()), 0)
    torch.testing.assert_close(images.cpu(), reference, atol=1e-6, rtol=0)
    overrides = ("trainer=gpu", "data.normalize_on_device=true", "model.compile=true")
    assert train(tiny_cfg(*overrides, "trainer.max_epochs=1"))["epochs"] == 1
