"""The LightningDataModule: a data source's splits, verified, as train / val / test loaders."""

import logging
from pathlib import Path

import lightning as L
from lightning.pytorch.accelerators import CUDAAccelerator
from torch.utils.data import DataLoader

from fracture.data.augmentation import Augmentation
from fracture.data.balance import balanced_sampler, check_balance, class_weights
from fracture.data.dataset import RadiographDataset
from fracture.data.decode import DEFAULT_MAX_PIXELS
from fracture.data.inspection import inspect_files
from fracture.data.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from fracture.data.samples import Sample
from fracture.data.sources.split_folders import require_both_classes

log = logging.getLogger(__name__)


class FractureDataModule(L.LightningDataModule):
    """Train / val / test splits of any data source, with unreadable files excluded up front.

    Args:
        source: Where the samples come from (``fracture.data.sources``).
        root: The dataset folder, as configured (the source reads it; kept for reports).
        image_size: Side of the square model input.
        resize_size: Shortest side before the eval centre crop.
        batch_size: Images per batch.
        num_workers: DataLoader worker processes (0 loads in the main process).
        augment: Training augmentation; ``None`` trains on the eval preprocessing.
        mean: Normalisation mean per channel.
        std: Normalisation standard deviation per channel.
        balance: ``none``, ``sampler`` (draw both classes equally often) or ``loss_weights``
            (inverse-frequency class weights in the loss).
        max_pixels: Files with more pixels are refused as possible decompression bombs.
        cache_dir: Where file inspections are cached; ``None`` inspects every run afresh.
    """

    def __init__(
        self,
        source,
        root: str | Path | None = None,
        image_size: int = 224,
        resize_size: int = 256,
        batch_size: int = 32,
        num_workers: int = 2,
        augment: Augmentation | None = None,
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
        balance: str = "none",
        max_pixels: int = DEFAULT_MAX_PIXELS,
        cache_dir: str | Path | None = None,
    ):
        super().__init__()
        self.source = source
        self.root = root
        self.preprocessing = Preprocessing(image_size, resize_size, tuple(mean), tuple(std))
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.augment = augment
        self.balance = check_balance(balance)
        self.max_pixels = max_pixels
        self.cache_dir = cache_dir
        self.samples: dict[str, list[Sample]] = {}
        self.excluded: list[dict] = []

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

    def _inspect(self, splits: dict[str, list[Sample]]) -> dict:
        paths = [sample.path for samples in splits.values() for sample in samples]
        facts = inspect_files(paths, self.cache_dir, self.max_pixels)
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
            self.augment.transform(self.preprocessing)
            if self.augment is not None
            else self.preprocessing.eval_transform()
        )
        sampler = balanced_sampler(self.samples["train"]) if self.balance == "sampler" else None
        return self._loader("train", transform, shuffle=sampler is None, sampler=sampler)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.preprocessing.eval_transform())

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.preprocessing.eval_transform())

    def _loader(self, split: str, transform, shuffle: bool = False, sampler=None) -> DataLoader:
        on_gpu = self.trainer is not None and isinstance(self.trainer.accelerator, CUDAAccelerator)
        return DataLoader(
            RadiographDataset(self.samples[split], transform, self.max_pixels),
            batch_size=self.batch_size,
            shuffle=shuffle,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=on_gpu,
        )
