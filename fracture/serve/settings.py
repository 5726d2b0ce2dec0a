"""What one server allows and how it runs its model; the defaults live in ``conf/serve.yaml``."""

from dataclasses import dataclass, fields

import torch

from fracture.errors import ConfigError
from fracture.inference.explain import METHODS

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class ServeSettings:
    """Limits and model options of a ``fracture-serve`` application.

    Args:
        max_upload_mb: Largest request body in MiB, all files of one request together.
        max_files: Most images in one request.
        max_pixels: Largest image (width x height) decoded, or resized for the model; larger
            ones are refused as possible decompression bombs. The images of one request
            share it.
        decode_timeout_s: Deadline for decoding one upload; a later one is refused (422).
        body_timeout_s: Deadline for receiving a whole request body; a slower one is 408.
        header_timeout_s: Deadline for a request's headers, from the connection (or the
            previous response); a slower connection is closed.
        threads: Inference threads: each decodes one request at a time, in parallel.
        queue_size: Requests that may wait for a free thread; one more is answered 503.
        max_batch: Most images of concurrent requests predicted in one model call.
        max_wait_ms: How long a model call waits for other requests' images to join it.
        explain_method: Grad-CAM variant for ``explain=true``, a key of ``METHODS``.
        tta: Also predict the mirrored image and average (test-time augmentation).
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
    """

    max_upload_mb: float
    max_files: int
    max_pixels: int
    decode_timeout_s: float
    body_timeout_s: float
    header_timeout_s: float
    threads: int
    queue_size: int
    max_batch: int
    max_wait_ms: float
    explain_method: str
    tta: bool
    device: str

    def __post_init__(self):
        self._check_positive(
            "max_upload_mb",
            "max_files",
            "max_pixels",
            "decode_timeout_s",
            "body_timeout_s",
            "header_timeout_s",
            "threads",
            "max_batch",
        )
        self._check_not_negative("queue_size", "max_wait_ms")
        if self.explain_method not in METHODS:
            raise ConfigError(
                f"explain_method={self.explain_method!r} is not one of {', '.join(METHODS)}"
            )
        if self.device not in DEVICES:
            raise ConfigError(f"device={self.device!r} is not one of {', '.join(DEVICES)}")

    def _check_positive(self, *names: str) -> None:
        for name in names:
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name}={getattr(self, name)} must be positive")

    def _check_not_negative(self, *names: str) -> None:
        for name in names:
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{name}={getattr(self, name)} must be 0 or more")

    @classmethod
    def from_config(cls, cfg) -> "ServeSettings":
        """The settings among the keys of ``cfg`` (a DictConfig or a mapping)."""
        return cls(**{f.name: cfg[f.name] for f in fields(cls)})

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)

    @property
    def max_uploads(self) -> int:
        """Predict requests admitted at once: running, waiting, or still sending their body."""
        return self.threads + self.queue_size

    def torch_device(self) -> torch.device:
        """The device the model runs on; ``cuda`` without a GPU is a ConfigError."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device=cuda, but torch sees no CUDA GPU; use device=cpu or auto")
        return torch.device(self.device)
