"""Bootstrap confidence intervals of metrics computed on weighted samples.

A resample is a row of integer counts over the N test images (how often each was drawn), so a
metric written for per-sample weights scores many resamples at once without copying data.
Intervals are percentile intervals: the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles
(numpy's linear interpolation) of the resampled values. Resamples whose value is NaN (an AUROC
of a resample holding a single class, say) are dropped, and ``"resamples"`` reports how many
were kept.

Seeding: resample ``i`` is the ``i``-th draw of ``numpy.random.default_rng(seed)``, whatever the
block size, so the same seed gives the same interval and ``block`` only bounds memory.
"""

from collections.abc import Callable, Iterator, Sequence

import numpy as np

Statistic = Callable[[np.ndarray], dict[str, np.ndarray]]
"""Maps (B, N) sample weights to ``{metric name: (B,) values}``."""


def bootstrap_weights(
    n: int, resamples: int, rng: np.random.Generator, groups: Sequence | None = None
) -> np.ndarray:
    """Counts of each sample in resamples drawn with replacement.

    Args:
        n: Number of samples.
        resamples: Number of resamples (rows).
        rng: Generator the draws come from, one resample after another.
        groups: Optional group id (patient, study; any hashable) of each sample. The distinct
            groups are then resampled instead, and each sample counts as often as its group was
            drawn, so correlated images of one patient move together.

    Returns:
        (resamples, n) int64 counts; each row sums to ``n`` without groups.
    """
    codes, units = _group_codes(groups, n)
    # One integers() call per resample: numpy drops buffered random bits at the end of a call,
    # so drawing several resamples per call would make the stream depend on the block size.
    rows = [
        np.bincount(rng.integers(0, units, size=units), minlength=units) for _ in range(resamples)
    ]
    counts = np.stack(rows) if rows else np.zeros((0, units), dtype=np.int64)
    return counts if codes is None else counts[:, codes]


def _group_codes(groups: Sequence | None, n: int) -> tuple[np.ndarray | None, int]:
    """Index of each sample's group (in order of first appearance) and the number of groups."""
    if groups is None:
        return None, n
    if len(groups) != n:
        raise ValueError(f"groups has {len(groups)} entries for {n} samples")
    # A dict rather than np.unique: ids may be any hashables, not all mutually comparable.
    index: dict = {}
    codes = np.array([index.setdefault(group, len(index)) for group in groups], dtype=np.int64)
    return codes, len(index)


def resample_statistic(
    statistic: Statistic,
    n: int,
    resamples: int = 1000,
    seed: int = 0,
    groups: Sequence | None = None,
    block: int = 100,
) -> dict[str, np.ndarray]:
    """``statistic`` on every resample, computed ``block`` resamples at a time.

    Returns:
        ``{name: (resamples,) values}``, NaN included.
    """
    _check_sizes(n, resamples, block)
    values: dict[str, list[np.ndarray]] = {}
    for weights in _weight_blocks(n, resamples, seed, groups, block):
        for name, value in statistic(weights).items():
            values.setdefault(name, []).append(np.asarray(value, dtype=float))
    return {name: np.concatenate(parts) for name, parts in values.items()}


def _weight_blocks(
    n: int, resamples: int, seed: int, groups: Sequence | None, block: int
) -> Iterator[np.ndarray]:
    """Weights of consecutive resamples, at most ``block`` rows at a time, from one stream."""
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, block):
        yield bootstrap_weights(n, min(block, resamples - start), rng, groups)


def _check_sizes(n: int, resamples: int, block: int) -> None:
    if n < 1 or resamples < 1 or block < 1:
        raise ValueError(f"n, resamples and block must be positive, got {n}, {resamples}, {block}")


def check_level(level: float) -> None:
    """Refuse a confidence level outside (0, 1) before any resampling is spent on it."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")


def point_statistic(statistic: Statistic, n: int) -> dict[str, float]:
    """``statistic`` on the original sample: every weight one."""
    return {name: float(value[0]) for name, value in statistic(np.ones((1, n), np.int64)).items()}


def percentile_interval(values: np.ndarray, level: float = 0.95) -> dict[str, float]:
    """Percentile interval of the non-NaN ``values``, and how many there were.

    Returns:
        ``{"low", "high", "resamples"}``; the bounds are NaN when no value is valid.
    """
    check_level(level)
    valid = values[~np.isnan(values)]
    if valid.size == 0:
        return {"low": np.nan, "high": np.nan, "resamples": 0}
    low, high = np.quantile(valid, [(1 - level) / 2, (1 + level) / 2])
    return {"low": float(low), "high": float(high), "resamples": int(valid.size)}


def bootstrap_ci(
    statistic: Statistic,
    n: int,
    resamples: int = 1000,
    seed: int = 0,
    groups: Sequence | None = None,
    level: float = 0.95,
    block: int = 100,
) -> dict[str, dict[str, float]]:
    """Percentile bootstrap confidence interval of each metric ``statistic`` returns.

    Args:
        statistic: Maps (B, n) weights to ``{name: (B,) values}``.
        n: Number of samples.
        resamples: Number of bootstrap resamples.
        seed: Seed of the resampling; the same seed gives the same intervals.
        groups: Optional group id of each sample; groups are resampled whole.
        level: Confidence level of the interval.
        block: Resamples scored per call of ``statistic``; bounds memory, not the result.

    Returns:
        ``{name: {"value", "low", "high", "resamples"}}``: the metric on the original sample,
        the interval, and the number of resamples with a defined (non-NaN) value.
    """
    check_level(level)
    values = resample_statistic(statistic, n, resamples, seed, groups, block)
    point = point_statistic(statistic, n)
    return {
        name: {"value": point[name], **percentile_interval(values[name], level)} for name in point
    }
