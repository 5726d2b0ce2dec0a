"""The LightningDataModule: a data source's splits, verified, as train / val / test loaders."""

import logging
import os
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.accelerators import CUDAAccelerator
from torch.utils.data import DataLoader, TensorDataset

from fracture.data.augmentation import Augmentation
from fracture.data.balance import check_balance, class_weights, sample_weights
from fracture.data.dataset import RadiographDataset
from fracture.data.decode import DEFAULT_MAX_PIXELS
from fracture.data.features import feature_loader
from fracture.data.inspection import DEFAULT_DECODE_TIMEOUT_S, inspect_files
from fracture.data.leakage import act_on_leakage, check_on_leakage, leakage_record
from fracture.data.pixel_cache import PixelCache
from fracture.data.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from fracture.data.samples import Sample
from fracture.data.sampling import EpochSampler
from fracture.data.sources.split_folders import require_both_classes
from fracture.errors import ConfigError
from fracture.lightning_compat import UnrepeatedDistributedSampler, next_epoch

log = logging.getLogger(__name__)

# "auto" DataLoader workers stop here: beyond it, extra processes mostly cost memory (each
# holds its own copy of torch and the dataset), and cached images load fast enough anyway.
MAX_AUTO_WORKERS = 16


class FractureDataModule(L.LightningDataModule):
    """Train / val / test splits of any data source, with unreadable files excluded up front.

    Args:
        source: Where the samples come from (``fracture.data.sources``).
        root: The dataset folder, as configured (the source reads it; kept for reports).
        image_size: Side of the square model input.
        resize_size: Shortest side before the eval centre crop (``fit="crop"``).
        fit: ``"crop"``, ``"pad"`` or ``"resize"``: how an image becomes the model's square
            (see :class:`~fracture.data.preprocessing.Preprocessing`).
        batch_size: Images per batch.
        num_workers: DataLoader worker processes per training process (0 loads in the main
            process), or ``"auto"``: see :func:`auto_num_workers`.
        augment: Training augmentation; ``None`` trains on the eval preprocessing.
        mean: Normalisation mean per channel.
        std: Normalisation standard deviation per channel.
        balance: ``none``, ``sampler`` (draw both classes equally often) or ``loss_weights``
            (inverse-frequency class weights in the loss).
        max_pixels: Files with more pixels are refused as possible decompression bombs.
        decode_timeout_s: Deadline for decoding one file during inspection; a file that
            takes longer is excluded as unreadable.
        cache_dir: Where file inspections (and decoded pixels) are cached; ``None`` inspects
            and decodes every run afresh.
        pixel_cache: Decode and resize each file once into ``cache_dir`` (see
            :class:`~fracture.data.pixel_cache.PixelCache`); augmentation then crops the
            cached image. Off without a ``cache_dir``.
        prefetch_factor: Batches each worker loads ahead (ignored without workers).
        normalize_on_device: Loaders yield uint8 (N, 1, H, W) batches, which
            :meth:`on_after_batch_transfer` converts and normalises on the model's device
            (a twelfth of the float RGB bytes to copy, and no float work on the CPU).
        seed: Draws each epoch's training order and augmentation, with the epoch number
            (see :mod:`fracture.data.sampling`); ``None`` means 0.
        on_leakage: ``warn``, ``error`` or ``ignore`` copies and near copies across splits
            (see :mod:`fracture.data.leakage`); the record is ``leakage``.
    """

    def __init__(
        self,
        source,
        root: str | Path | None = None,
        image_size: int = 224,
        resize_size: int = 256,
        fit: str = "crop",
        batch_size: int = 32,
        num_workers: int | str = "auto",
        augment: Augmentation | None = None,
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
        balance: str = "none",
        max_pixels: int = DEFAULT_MAX_PIXELS,
        decode_timeout_s: float = DEFAULT_DECODE_TIMEOUT_S,
        cache_dir: str | Path | None = None,
        pixel_cache: bool = True,
        prefetch_factor: int = 4,
        normalize_on_device: bool = False,
        seed: int | None = 0,
        on_leakage: str = "warn",
    ):
        super().__init__()
        self.source = source
        self.root = root
        self.preprocessing = Preprocessing(
            image_size, resize_size, tuple(mean), tuple(std), fit=fit
        )
        self.batch_size = batch_size
        self.auto_workers = num_workers == "auto"
        self.num_workers = auto_num_workers() if self.auto_workers else _worker_count(num_workers)
        self.prefetch_factor = prefetch_factor
        self.normalize_on_device = normalize_on_device
        self.seed = 0 if seed is None else seed
        self.augment = augment
        self.balance = check_balance(balance)
        self.max_pixels = max_pixels
        self.decode_timeout_s = decode_timeout_s
        self.cache_dir = cache_dir
        self.pixel_cache = (
            PixelCache(cache_dir, self.preprocessing, max_pixels)
            if pixel_cache and cache_dir is not None
            else None
        )
        self.samples: dict[str, list[Sample]] = {}
        self.excluded: list[dict] = []
        self.on_leakage = check_on_leakage(on_leakage)
        self.leakage: dict | None = None  # set by setup unless on_leakage is ignore
        self.features: dict[str, TensorDataset] = {}  # set by use_features

    def prepare_data(self) -> None:
        # Once per node, before setup: create the synthetic set, and inspect every file so
        # that setup on each rank reads the inspection from the cache.
        self.source.prepare()
        if self.cache_dir is not None:
            self._inspect(self.source.splits())

    def setup(self, stage: str | None = None) -> None:
        if self.samples:
            return
        splits = self.source.splits()
        facts = self._inspect(splits)
        self.excluded = [
            {"path": str(s.path), "split": split, "reason": facts[s.path].error}
            for split, samples in splits.items()
            for s in samples
            if not facts[s.path].readable
        ]
        self.samples = {
            split: [s for s in samples if facts[s.path].readable]
            for split, samples in splits.items()
        }
        for split, samples in self.samples.items():
            require_both_classes(samples, f"the readable {split} images of {self.source}", [])
        self._report_excluded()
        if self.on_leakage != "ignore":
            self.leakage = leakage_record(self.samples, facts)
            act_on_leakage(self.leakage, self.on_leakage, self.source)

    def _inspect(self, splits: dict[str, list[Sample]]) -> dict:
        paths = [sample.path for samples in splits.values() for sample in samples]
        facts = inspect_files(
            paths, self.cache_dir, self.max_pixels, timeout_s=self.decode_timeout_s
        )
        return dict(zip(paths, facts, strict=True))

    def _report_excluded(self) -> None:
        if not self.excluded:
            return
        shown = "; ".join(f"{e['path']}: {e['reason']}" for e in self.excluded[:5])
        more = (
            f" (and {len(self.excluded) - 5} more, listed in metrics.json)"
            if len(self.excluded) > 5
            else ""
        )
        log.warning("excluded %d unreadable image(s): %s%s", len(self.excluded), shown, more)

    @property
    def loss_weights(self):
        """Class weights for the loss when ``balance`` is ``loss_weights``, else ``None``."""
        return class_weights(self.samples["train"]) if self.balance == "loss_weights" else None

    def train_dataloader(self) -> DataLoader:
        transform = (
            self.augment.transform(self.preprocessing, uint8=self.normalize_on_device)
            if self.augment is not None
            else self.preprocessing.eval_transform(uint8=self.normalize_on_device)
        )
        dataset = self._dataset("train", transform)
        return self._with_features("train", self._loader(dataset, self._train_sampler(dataset)))

    def val_dataloader(self) -> DataLoader:
        dataset = self._dataset("val", self.preprocessing.eval_transform(self.normalize_on_device))
        return self._with_features("val", self._loader(dataset, self._eval_sampler(dataset)))

    def test_dataloader(self) -> DataLoader:
        dataset = self._dataset("test", self.preprocessing.eval_transform(self.normalize_on_device))
        return self._loader(dataset, self._eval_sampler(dataset))

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        # data.normalize_on_device: uint8 (N, 1, H, W) images crossed to the device at a
        # twelfth of the bytes of float RGB; convert them there exactly as the CPU path would.
        if isinstance(batch, torch.Tensor):
            return batch  # the model summary's example input (1, 3, S, S), already model input
        images, *rest = batch
        if images.dtype == torch.uint8:
            images = self.preprocessing.batch_to_model_input(images)
        return (images, *rest)

    def _train_sampler(self, dataset: RadiographDataset) -> EpochSampler:
        # Order and augmentation follow from (seed, epoch) alone, so a resumed run sees the
        # data the uninterrupted one saw; under DDP each rank takes its share of one order.
        # The epoch is the fit loop's next one: a loader with workers draws its first indices
        # when its iterator is made, which on a resume comes before Lightning's set_epoch.
        trainer = self.trainer
        return EpochSampler(
            dataset,
            self.seed,
            epoch=next_epoch(trainer),
            weights=sample_weights(self.samples["train"]) if self.balance == "sampler" else None,
            num_replicas=trainer.world_size if trainer else 1,
            rank=trainer.global_rank if trainer else 0,
        )

    def _eval_sampler(self, dataset: RadiographDataset) -> UnrepeatedDistributedSampler | None:
        # Under DDP, disjoint shares that together hold every image once: Lightning's
        # default DistributedSampler pads the shares with repeats, which would count some
        # validation images twice.
        if self.trainer is None or self.trainer.world_size == 1:
            return None
        return UnrepeatedDistributedSampler(
            dataset, self.trainer.world_size, self.trainer.global_rank, shuffle=False
        )

    def use_features(self, features: dict[str, TensorDataset] | None) -> None:
        """Serve cached backbone features instead of images for some splits, or images again.

        Used by :class:`~fracture.callbacks.CachedFeatures`; the feature loaders batch and
        shuffle exactly as the image loaders they replace.

        Args:
            features: ``{split: TensorDataset(features (N, F), labels (N,))}``, rows in the
                order of ``samples[split]``; ``None`` serves images for every split again.
        """
        self.features = dict(features or {})

    def _with_features(self, split: str, loader: DataLoader) -> DataLoader:
        if split not in self.features:
            return loader
        return feature_loader(self.features[split], like=loader)

    def _dataset(self, split: str, transform) -> RadiographDataset:
        return RadiographDataset(self.samples[split], transform, self.max_pixels, self.pixel_cache)

    def _loader(self, dataset: RadiographDataset, sampler=None) -> DataLoader:
        on_gpu = self.trainer is not None and isinstance(self.trainer.accelerator, CUDAAccelerator)
        workers = self._workers()
        # Pinned batches let Lightning copy them to the GPU with non_blocking=True, overlapping
        # the copy with compute; persistent workers keep their warm state between epochs.
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=on_gpu,
            prefetch_factor=self.prefetch_factor if workers > 0 else None,
        )

    def _workers(self) -> int:
        # "auto" shares this node's cores among its training processes (one per device),
        # unless SLURM already gave each rank its own (cpus_per_task, bound to the task).
        if not self.auto_workers or self.trainer is None:
            return self.num_workers
        per_task = "SLURM_CPUS_PER_TASK" in os.environ
        return auto_num_workers(processes=1 if per_task else self.trainer.num_devices)


def auto_num_workers(processes: int = 1) -> int:
    """DataLoader workers per training process that fit this machine.

    The usable cores (``os.sched_getaffinity``: what a container or ``taskset`` grants, not
    what the machine has), shared among ``processes``, minus one core each for the training
    process itself; at least 1 and at most ``MAX_AUTO_WORKERS``.

    Args:
        processes: Training processes on this node that each start their own workers.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity mask
        cores = os.cpu_count() or 1
    return max(1, min(MAX_AUTO_WORKERS, cores // processes - 1))


def _worker_count(setting) -> int:
    if isinstance(setting, int) and setting >= 0:
        return setting
    raise ConfigError(f"data.num_workers={setting!r}: use auto or a whole number >= 0")
