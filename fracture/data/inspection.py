"""Facts about every image file, computed once and cached: readable or why not, content and
perceptual hashes, format, pixel mode and size.

Training uses the facts to exclude unreadable files before the first epoch; the audit uses
them for its report. Both share one cache, keyed by the file's absolute path, size and
modification time, so a file that changes is inspected again and nothing else is.
"""

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from tqdm.auto import tqdm

from fracture.data.decode import DEFAULT_MAX_PIXELS, decode
from fracture.data.facts import FactsCache, FileFacts
from fracture.data.hashing import content_hash, perceptual_hashes
from fracture.errors import UnreadableImage

# Below this many files to inspect, worker processes cost more to start than they save.
_POOL_THRESHOLD = 64


def inspect_file(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> FileFacts:
    """Decode one file completely and fingerprint it; never raises for a bad file."""
    path = str(path)
    try:
        size = os.stat(path).st_size
    except OSError:
        return FileFacts(path, error="file not found")
    try:
        decoded = decode(path, max_pixels)
    except UnreadableImage as error:
        return FileFacts(path, size, content_hash(path), error=error.reason)
    phash, *variants = perceptual_hashes(decoded.image)
    return FileFacts(
        path,
        size,
        content_hash(path),
        phash,
        phash_variants=tuple(variants),
        format=decoded.format,
        mode=decoded.mode,
        width=decoded.width,
        height=decoded.height,
    )


def inspect_files(
    paths: Sequence[str | Path],
    cache_dir: str | Path | None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    workers: int | None = None,
    progress: bool = True,
) -> list[FileFacts]:
    """Facts for every path, in order; only new or changed files are decoded.

    Args:
        paths: Image files.
        cache_dir: Where the facts cache lives; ``None`` inspects everything afresh.
        max_pixels: Decompression-bomb limit (part of the cache key).
        workers: Processes for the files not in the cache; default: the usable cores.
        progress: Show a progress bar.
    """
    cache = FactsCache(cache_dir, max_pixels) if cache_dir is not None else None
    keys = [str(Path(p).resolve()) for p in paths]
    known = cache.lookup(keys) if cache else {}
    missing = [key for key in dict.fromkeys(keys) if key not in known]
    fresh = _inspect_many(missing, max_pixels, workers, progress)
    if cache:
        cache.store(fresh)
    found = {**known, **{facts.path: facts for facts in fresh}}
    return [found[key] for key in keys]


def _inspect_many(paths: list[str], max_pixels: int, workers, progress: bool) -> list[FileFacts]:
    workers = workers or len(os.sched_getaffinity(0))
    bar = tqdm(
        total=len(paths), desc="inspecting images", unit="img", disable=not progress or not paths
    )
    with bar:
        if workers <= 1 or len(paths) < _POOL_THRESHOLD:
            return [_step(bar, inspect_file(path, max_pixels)) for path in paths]
        # fork: workers inherit the imported modules instead of re-importing torch.
        with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
            results = pool.map(inspect_file, paths, [max_pixels] * len(paths), chunksize=16)
            return [_step(bar, facts) for facts in results]


def _step(bar: tqdm, facts: FileFacts) -> FileFacts:
    bar.update()
    return facts
