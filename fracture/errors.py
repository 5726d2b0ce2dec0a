"""Errors that carry a one-line message naming the bad path or value and the fix."""


class FractureError(Exception):
    """Base class for errors the command-line tools report as one line, without a traceback."""


class DataError(FractureError, ValueError):
    """A data root, split, class folder or image that cannot be used as given."""


class ConfigError(FractureError, ValueError):
    """A configuration value that cannot work (unknown layer name, bad epoch, ...)."""


class WeightsError(FractureError, FileNotFoundError):
    """Pretrained weights that are asked for but cannot be found offline."""


class UnreadableImage(DataError):
    """An image file that cannot be decoded; ``reason`` says why in a few words."""

    def __init__(self, path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class ExportError(FractureError, RuntimeError):
    """An exported model that could not be written, or disagrees with the PyTorch model."""
