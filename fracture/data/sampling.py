"""Each epoch's training order and augmentation randomness, drawn from (seed, epoch) alone.

With Lightning's defaults (a ``RandomSampler`` and augmentation on the global generator)
both depend on every random number drawn before, so a run resumed at epoch k sees other
images in another order, differently augmented, than the run that was never interrupted.
Here a generator seeded by (seed, epoch) draws one global order and one augmentation seed
per position; each rank takes its share of that order, as ``DistributedSampler`` does, and
the dataset augments each sample under its own seed. What a sample looks like therefore
depends neither on the number of ranks nor on DataLoader workers nor on a resume.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler

_SEED_LIMIT = 2**62  # augmentation seeds are drawn below this (any int64 would do)


class EpochSampler(DistributedSampler):
    """Shuffled (or class-weighted) draws of ``(index, augmentation seed)`` for one rank.

    A ``DistributedSampler``, so Lightning neither replaces it under DDP nor wraps it; it
    calls ``set_epoch`` at every epoch start.

    Args:
        dataset: The training dataset (only its length is used).
        seed: The run's seed.
        epoch: The epoch whose order the first iteration draws (the resumed epoch).
        weights: Per-sample draw weights (``data.balance=sampler``): draws with replacement;
            ``None`` shuffles every sample once per epoch.
        num_replicas: Number of ranks.
        rank: This process's rank.
    """

    def __init__(
        self,
        dataset: Dataset,
        seed: int,
        epoch: int = 0,
        weights: torch.Tensor | None = None,
        num_replicas: int = 1,
        rank: int = 0,
    ):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self.weights = weights
        self.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        generator = torch.Generator().manual_seed(_epoch_seed(self.seed, self.epoch))
        size = len(self.dataset)
        if self.weights is None:
            order = torch.randperm(size, generator=generator)
        else:
            order = torch.multinomial(self.weights, size, replacement=True, generator=generator)
        # Pad by wrapping around, so every rank gets total_size / num_replicas draws.
        order = order.repeat(-(-self.total_size // size))[: self.total_size]
        seeds = torch.randint(_SEED_LIMIT, (self.total_size,), generator=generator)
        positions = range(self.rank, self.total_size, self.num_replicas)
        return iter([(int(order[p]), int(seeds[p])) for p in positions])


def _epoch_seed(seed: int, epoch: int) -> int:
    # One generator seed per (seed, epoch) pair; seed + epoch would give seed 1 / epoch 0
    # the order of seed 0 / epoch 1. NumPy's SeedSequence is a documented, stable hash of
    # the pair (hash() is not: no Python version promises its values). It takes
    # non-negative entries, hence the two's-complement view of a negative seed.
    entropy = np.random.SeedSequence([seed % 2**64, epoch])
    return int(entropy.generate_state(1, dtype=np.uint64)[0]) % _SEED_LIMIT


@contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Draw random numbers from ``seed`` inside the block; the global generator is restored
    afterwards (``None``: the global generator, untouched)."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        # The CPU generator alone: torch.manual_seed would also reseed (and, with CUDA not
        # yet initialised, queue a lazy seeding of) every GPU generator, for each sample.
        torch.default_generator.manual_seed(seed)
        yield
