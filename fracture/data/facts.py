"""File facts and their SQLite cache, safe when several processes of a sweep use it at once.

SQLite serialises writers itself (with a busy timeout), so concurrent runs never corrupt the
cache; at worst two runs inspect the same new file and store the same facts twice.
"""

import dataclasses
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# Bump when inspect_file's results change meaning, so old entries are recomputed.
FACTS_VERSION = 2  # 2: phash of the shrunk image, phash_variants
_SCHEMA = """CREATE TABLE IF NOT EXISTS facts (
    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, key TEXT, facts TEXT)"""


@dataclass(frozen=True)
class FileFacts:
    """What one inspection found; ``error`` is the reason when the file cannot be used.

    ``phash`` and ``phash_variants`` are the ``perceptual_hashes`` of the image; the
    variants are stored as a tuple whatever iterable comes in, so facts read back from JSON
    lists compare equal to fresh ones.
    """

    path: str
    bytes: int = 0
    sha256: str | None = None
    phash: int | None = None
    phash_variants: tuple[int, ...] | None = None
    format: str | None = None
    mode: str | None = None
    width: int | None = None
    height: int | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        if self.phash_variants is not None:
            object.__setattr__(self, "phash_variants", tuple(self.phash_variants))

    @property
    def readable(self) -> bool:
        return self.error is None


class FactsCache:
    """Facts keyed by absolute path, valid while size, mtime and inspection settings match."""

    def __init__(self, cache_dir: str | Path, max_pixels: int):
        directory = Path(cache_dir).expanduser()
        directory.mkdir(parents=True, exist_ok=True)
        self.file = directory / "file_facts.sqlite"
        self.key = f"v{FACTS_VERSION}/max_pixels={max_pixels}"
        with self._connect() as db:
            db.execute(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # A busy timeout instead of failing when another run of the sweep is writing.
        db = sqlite3.connect(self.file, timeout=120)
        try:
            with db:  # commits, or rolls back on error
                yield db
        finally:
            db.close()

    def lookup(self, paths: Iterable[str]) -> dict:
        """The cached facts of those paths whose file is unchanged since they were stored."""
        with self._connect() as db:
            rows = dict(
                (path, (size, mtime, key, facts))
                for path, size, mtime, key, facts in db.execute("SELECT * FROM facts")
            )
        found = {}
        for path in paths:
            row = rows.get(path)
            if row and row[2] == self.key and row[:2] == _identity(path):
                found[path] = FileFacts(**json.loads(row[3]))
        return found

    def store(self, facts: Iterable) -> None:
        rows = [
            (f.path, *_identity(f.path), self.key, json.dumps(dataclasses.asdict(f))) for f in facts
        ]
        with self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO facts VALUES (?, ?, ?, ?, ?)", rows)


def _identity(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return (-1, -1)
    return (stat.st_size, stat.st_mtime_ns)
