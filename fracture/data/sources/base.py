"""What every data source is: a place on disk that yields train / val / test samples."""

from pathlib import Path

from fracture.data.samples import Sample


class Source:
    """Base of the data sources; subclasses set ``root`` and implement :meth:`splits`."""

    root: Path

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.root})"

    def prepare(self) -> None:
        """Create data on disk, once per node; only the synthetic set has anything to do."""

    def splits(self) -> dict[str, list[Sample]]:
        """The samples of ``train``, ``val`` and ``test``."""
        raise NotImplementedError
