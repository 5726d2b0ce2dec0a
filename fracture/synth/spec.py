"""What a synthetic radiograph set contains: seed, image size, split sizes, class balance."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from fracture.errors import ConfigError

_MIN_SIZE = 32
_MAX_SIZE = 4096


@dataclass(frozen=True)
class SyntheticSpec:
    """Recipe for the embedded synthetic X-ray set; equal specs give byte-identical images.

    Args:
        seed: Root of every image's random stream.
        size: Side of the square 8-bit images, in pixels.
        train: Number of training images.
        val: Number of validation images.
        test: Number of test images.
        fractured_fraction: Share of each split that shows a fracture.
        subtle_fraction: Share of the fractures drawn as thin, low-contrast hairlines.
    """

    seed: int = 0
    size: int = 128
    train: int = 1000
    val: int = 200
    test: int = 400
    fractured_fraction: float = 0.5
    subtle_fraction: float = 0.15

    def __post_init__(self) -> None:
        _check_int("seed", self.seed, 0)
        _check_int("size", self.size, _MIN_SIZE)
        if self.size > _MAX_SIZE:
            raise ConfigError(f"synthetic size={self.size} is too large; use at most {_MAX_SIZE}")
        for split in ("train", "val", "test"):
            _check_int(split, getattr(self, split), 0)
        for name in ("fractured_fraction", "subtle_fraction"):
            _check_fraction(name, getattr(self, name))

    def to_dict(self) -> dict:
        """Plain-dict form, as stored in the dataset's marker file."""
        return asdict(self)


def _check_int(name: str, value: object, minimum: int) -> None:
    # bool is an int subclass, but `size=True` is always a mistake.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"synthetic {name}={value!r} is invalid; use an integer >= {minimum}")


def _check_fraction(name: str, value: object) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0
    if not ok:
        raise ConfigError(f"synthetic {name}={value!r} is invalid; use a number in [0, 1]")
