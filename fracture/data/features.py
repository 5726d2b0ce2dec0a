"""Cached backbone features, served by a loader that stands in for the image loader."""

from torch.utils.data import DataLoader, Dataset, TensorDataset


def feature_loader(features: TensorDataset, like: DataLoader) -> DataLoader:
    """A main-process loader over ``features`` that batches and orders as ``like`` does.

    It shares ``like``'s sampler, whose order follows from (seed, epoch) alone
    (:class:`~fracture.data.sampling.EpochSampler`), so for the same seed every epoch gets
    the same batches in the same order as on images, and a head trained on features ends
    with the same weights.

    Args:
        features: ``TensorDataset(features (N, F), labels (N,))``, row ``i`` being item ``i``
            of ``like.dataset``.
        like: The image loader that the features replace.
    """
    if len(features) != len(like.dataset):
        raise ValueError(f"{len(features)} feature rows for {len(like.dataset)} images")
    return DataLoader(
        _ByIndex(features),
        batch_size=like.batch_size,
        sampler=like.sampler,
        drop_last=like.drop_last,
        pin_memory=like.pin_memory,
    )


class _ByIndex(Dataset):
    """Rows by index; the training sampler's keys are (index, augmentation seed)."""

    def __init__(self, rows: TensorDataset):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key):
        return self.rows[key[0] if isinstance(key, tuple) else key]
