"""Training step images/s: fracture under Lightning against a plain PyTorch loop over the
same model, batches and optimizer; and fine-tuning end to end from the pixel cache."""

import contextlib
import itertools
import statistics
import time

import lightning as L
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from fracture.bench.memory import cuda_peak_mib, reset_cuda_peak
from fracture.bench.settings import BenchSettings
from fracture.bench.timing import StepTimer, sync
from fracture.models import FractureClassifier


def build_model(cfg: DictConfig) -> FractureClassifier:
    """The configured model, with the initial weights of seed ``cfg.seed``."""
    L.seed_everything(cfg.seed, verbose=False)
    return instantiate(cfg.model)


def sample_batches(cfg: DictConfig, count: int, device: torch.device) -> DataLoader:
    """``count`` batches for the step measurements: a few distinct ones from fracture's train
    loader (float, eval transform), kept on ``device`` and repeated, so loading is not timed.

    Returned as a loader of ready batches (``batch_size=None``): Lightning would take a plain
    list for several dataloaders, and the plain loop iterates the very same object."""
    datamodule = instantiate(cfg.data, augment=None, normalize_on_device=False)
    datamodule.prepare_data()
    datamodule.setup("fit")
    loaded = itertools.islice(datamodule.train_dataloader(), min(count, 4))
    distinct = [(images.to(device), labels.to(device)) for images, labels in loaded]
    return DataLoader([distinct[i % len(distinct)] for i in range(count)], batch_size=None)


def prepare_plain(model: FractureClassifier, frozen: bool) -> torch.optim.Optimizer:
    """Freeze as ``BackboneFreeze`` does and build the optimizer as Lightning does: the
    configured Adam over the head group and, when it trains, the backbone group."""
    model.train()
    if frozen:
        model.backbone.requires_grad_(False)
        model.backbone.eval()  # frozen BatchNorm keeps its running statistics
    configured = model.configure_optimizers()
    return configured["optimizer"] if isinstance(configured, dict) else configured


def plain_loop(model, batches, optimizer, device: torch.device, bf16: bool = False):
    """Train on ``batches`` with a hand-written PyTorch loop, the reference for Lightning.

    Args:
        model: A FractureClassifier prepared by :func:`prepare_plain`.
        batches: ``(images (N, 3, H, W), labels (N,))`` pairs.
        optimizer: The optimizer of ``model``'s trainable parameters.
        device: Where to train.
        bf16: Autocast the forward pass to bfloat16, as Lightning's ``bf16-mixed`` does.

    Returns:
        Wall seconds of each step (since the previous one ended) and each step's loss.
    """
    model.to(device)
    autocast = torch.autocast(device.type, torch.bfloat16) if bf16 else contextlib.nullcontext()
    times, losses = [], []
    sync(device)
    last = time.perf_counter()
    for images, labels in batches:
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        with autocast:
            loss = F.cross_entropy(model(images), labels, weight=model.class_weights)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())  # waits for the device
        sync(device)
        times.append(time.perf_counter() - last)
        last = time.perf_counter()
    return times, losses


def lightning_loop(cfg: DictConfig, model, steps: int, **fit) -> StepTimer:
    """Train ``steps`` steps as ``fracture-train`` does (the configured trainer and finetune
    callback), without validation, logging or checkpoints. ``fit`` gives the data:
    ``train_dataloaders=batches`` or ``datamodule=...``."""
    timer = StepTimer()
    trainer = bare_trainer(cfg, [instantiate(cfg.finetune), timer], max_steps=steps, max_epochs=-1)
    trainer.fit(model, **fit)
    return timer


def bare_trainer(cfg: DictConfig, callbacks: list, **limits) -> L.Trainer:
    """The configured trainer with ``callbacks`` and ``limits`` (``max_steps``,
    ``max_epochs``), without validation, logging, checkpoints or progress output."""
    return instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        **limits,
    )


def compare_loops(cfg: DictConfig, batches: DataLoader, settings: BenchSettings) -> dict:
    """Images/s of the plain loop and of Lightning on the same batches, from the same initial
    weights, in this process; Lightning's overhead is its median step time over the loop's.

    The two alternate ``settings.rounds`` times (steps pooled), so that a change in the
    machine's load during the measurement favours neither.
    """
    device = torch.device(settings.device)
    torch.backends.cudnn.benchmark = bool(cfg.trainer.get("benchmark", False))  # as Lightning
    plain_times, lightning_times = [], []
    for _ in range(settings.rounds):
        times, plain_losses, plain_peak = _plain_round(cfg, batches, device)
        plain_times += times[settings.warmup :]
        reset_cuda_peak(device)
        timer = lightning_loop(cfg, build_model(cfg), len(batches), train_dataloaders=batches)
        lightning_times += timer.step_times()[settings.warmup :]
    plain, lightning = statistics.median(plain_times), statistics.median(lightning_times)
    return {
        "plain_images_per_s": settings.batch_size / plain,
        "lightning_images_per_s": settings.batch_size / lightning,
        "lightning_overhead": lightning / plain - 1,
        "first_loss": {"plain": plain_losses[0], "lightning": timer.losses[0]},
        "cuda_peak_mib": {"plain": plain_peak, "lightning": cuda_peak_mib(device)},
    }


def _plain_round(cfg: DictConfig, batches: DataLoader, device: torch.device):
    model = build_model(cfg)
    optimizer = prepare_plain(model, frozen=cfg.finetune.unfreeze_at_epoch is None)
    reset_cuda_peak(device)
    bf16 = cfg.trainer.get("precision") == "bf16-mixed"
    times, losses = plain_loop(model, batches, optimizer, device, bf16)
    return times, losses, cuda_peak_mib(device)


def end_to_end(cfg: DictConfig, settings: BenchSettings) -> dict:
    """Images/s of fracture-train's fine-tuning step fed by its own train loader (augmented,
    from the warm pixel cache), and the share of step time spent waiting for the batch: in
    the median step, and over all steps (epoch starts, when workers refill, included)."""
    device = torch.device(settings.device)
    reset_cuda_peak(device)
    steps = settings.warmup + settings.steps
    timer = lightning_loop(cfg, build_model(cfg), steps, datamodule=instantiate(cfg.data))
    times = timer.step_times()[settings.warmup :]
    waits = timer.wait_times()[settings.warmup :]
    return {
        "images_per_s": settings.batch_size / statistics.median(times),
        "data_wait_share": statistics.median(w / t for w, t in zip(waits, times, strict=True)),
        "data_wait_share_total": sum(waits) / sum(times),
        "cuda_peak_mib": cuda_peak_mib(device),
    }
