"""The LightningDataModule for split-folder radiograph datasets."""

from pathlib import Path

import lightning as L
from lightning.pytorch.accelerators import CUDAAccelerator
from torch.utils.data import DataLoader

from fracture.data.augmentation import Augmentation
from fracture.data.dataset import RadiographDataset
from fracture.data.folders import Sample, scan_split_folders
from fracture.data.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from fracture.synth import SyntheticSpec, ensure_dataset


class FractureDataModule(L.LightningDataModule):
    """Train / val / test splits of ``root/{train,val,test}/<class>/``.

    Args:
        root: Dataset directory.
        image_size: Side of the square model input.
        resize_size: Shortest side before the eval centre crop.
        batch_size: Images per batch.
        num_workers: DataLoader worker processes (0 loads in the main process).
        augment: Training augmentation; ``None`` trains on the eval preprocessing.
        synthetic: When given, the embedded synthetic set is generated into ``root``
            on first use (and reused afterwards).
        mean: Normalisation mean per channel.
        std: Normalisation standard deviation per channel.
    """

    def __init__(
        self,
        root: str | Path,
        image_size: int = 224,
        resize_size: int = 256,
        batch_size: int = 32,
        num_workers: int = 2,
        augment: Augmentation | None = None,
        synthetic: SyntheticSpec | None = None,
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
    ):
        super().__init__()
        self.root = Path(root).expanduser()
        self.preprocessing = Preprocessing(image_size, resize_size, tuple(mean), tuple(std))
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.augment = augment
        self.synthetic = synthetic
        self.samples: dict[str, list[Sample]] = {}

    def prepare_data(self) -> None:
        # Lightning runs this once per node, before setup: the place to create data on disk.
        if self.synthetic is not None:
            ensure_dataset(self.root, self.synthetic)

    def setup(self, stage: str | None = None) -> None:
        if not self.samples:
            self.samples = scan_split_folders(self.root)

    def train_dataloader(self) -> DataLoader:
        if self.augment is None:
            return self._loader("train", self.preprocessing.eval_transform(), shuffle=True)
        return self._loader("train", self.augment.transform(self.preprocessing), shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.preprocessing.eval_transform())

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.preprocessing.eval_transform())

    def _loader(self, split: str, transform, shuffle: bool = False) -> DataLoader:
        on_gpu = self.trainer is not None and isinstance(self.trainer.accelerator, CUDAAccelerator)
        return DataLoader(
            RadiographDataset(self.samples[split], transform),
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=on_gpu,
        )
