"""Facts about every image file, computed once and cached: readable or why not, content and
perceptual hashes, format, pixel mode and size.

Training uses the facts to exclude unreadable files before the first epoch; the audit uses
them for its report. Both share one cache, keyed by the file's absolute path, size and
modification time, so a file that changes is inspected again and nothing else is. Files are
decoded in worker processes under a deadline (``fracture.data.bounded``): a file that hangs
its decoder is "unreadable: decoding took longer than N s", and is not cached (a busy
machine may be the reason), while the rest goes on.
"""

import os
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from tqdm.auto import tqdm

from fracture.data.bounded import TIMEOUT_REASON, bounded_map
from fracture.data.decode import DEFAULT_MAX_PIXELS, decode
from fracture.data.facts import FactsCache, FileFacts
from fracture.data.hashing import content_hash, perceptual_hashes
from fracture.errors import UnreadableImage

# The default deadline when none is given (the configs set data.decode_timeout_s).
DEFAULT_DECODE_TIMEOUT_S = 30.0


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
        return _unreadable(path, error.reason)
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


def _unreadable(path: str, reason: str) -> FileFacts:
    try:
        return FileFacts(path, os.stat(path).st_size, content_hash(path), error=reason)
    except OSError:  # gone since it was listed
        return FileFacts(path, error=reason)


def inspect_files(
    paths: Sequence[str | Path],
    cache_dir: str | Path | None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    workers: int | None = None,
    progress: bool = True,
    timeout_s: float = DEFAULT_DECODE_TIMEOUT_S,
) -> list[FileFacts]:
    """Facts for every path, in order; only new or changed files are decoded.

    Args:
        paths: Image files.
        cache_dir: Where the facts cache lives; ``None`` inspects everything afresh.
        max_pixels: Decompression-bomb limit (part of the cache key).
        workers: Processes for the files not in the cache; default: the usable cores.
        progress: Show a progress bar.
        timeout_s: Deadline for one file; a later file is unreadable.
    """
    cache = FactsCache(cache_dir, max_pixels) if cache_dir is not None else None
    keys = [str(Path(p).resolve()) for p in paths]
    known = cache.lookup(keys) if cache else {}
    missing = [key for key in dict.fromkeys(keys) if key not in known]
    fresh = _inspect_many(missing, max_pixels, workers, progress, timeout_s)
    if cache:
        cache.store([f for f in fresh if not (f.error or "").startswith(TIMEOUT_REASON)])
    found = {**known, **{facts.path: facts for facts in fresh}}
    return [found[key] for key in keys]


def _inspect_many(paths: list[str], max_pixels: int, workers, progress, timeout_s: float):
    workers = workers or len(os.sched_getaffinity(0))
    results: list[FileFacts | None] = [None] * len(paths)
    inspect = partial(inspect_file, max_pixels=max_pixels)
    bar = tqdm(
        total=len(paths), desc="inspecting images", unit="img", disable=not progress or not paths
    )
    with bar:
        for index, facts in bounded_map(inspect, paths, timeout_s, workers, _unreadable):
            results[index] = facts
            bar.update()
    return results
