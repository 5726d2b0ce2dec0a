"""What an inference thread does with one request: decode, check, predict, explain."""

import io
import threading
from dataclasses import dataclass
from time import perf_counter

import torch
from PIL import Image

from fracture.data.decode import read_radiograph
from fracture.errors import FractureError, UnreadableImage
from fracture.inference.explain import last_stage
from fracture.inference.predict import member_probabilities
from fracture.inference.predictor import Predictor
from fracture.serve.panel import explain_layers
from fracture.serve.schemas import Prediction, Timing
from fracture.serve.settings import ServeSettings


@dataclass(frozen=True)
class Upload:
    """One uploaded file, held in memory only for the length of its request."""

    filename: str
    data: bytes


class UploadRejected(Exception):
    """An upload that cannot be predicted; ``reason`` says why in a few words."""

    def __init__(self, filename: str, reason: str):
        super().__init__(f"{filename}: {reason}")
        self.filename = filename
        self.reason = reason


class ModelRunner:
    """The loaded model on its device, shared by the inference threads.

    Args:
        predictor: The model, its preprocessing and threshold.
        settings: Device, TTA, CAM method and pixel limit.
    """

    def __init__(self, predictor: Predictor, settings: ServeSettings):
        self.predictor = predictor
        self.settings = settings
        self.device = settings.torch_device()
        self.model = predictor.model.to(self.device).eval()
        self.backbones = [member.hparams.backbone for member in self.model.members]
        self.name = _model_name(self.backbones)
        self.explain_error = _explain_error(predictor)
        self._transform = predictor.preprocessing.eval_transform()
        # Grad-CAM hooks the shared model, and its hooks would record another thread's forward
        # pass too: model calls take turns, while decoding and preprocessing overlap.
        self._model_lock = threading.Lock()

    def predict(self, uploads: list[Upload], explain: bool) -> list[Prediction]:
        """One prediction per upload, in order.

        Args:
            uploads: The request's files.
            explain: Add each image's Grad-CAM overlay.

        Raises:
            UploadRejected: For the first file that cannot be used; nothing is predicted then.
        """
        # Every file first: one bad file fails the request before any model time is spent.
        prepared = [self._prepare(upload) for upload in uploads]
        return [
            self._predict(upload.filename, image, decode_ms, explain)
            for upload, (image, decode_ms) in zip(uploads, prepared, strict=True)
        ]

    def _prepare(self, upload: Upload) -> tuple[torch.Tensor, float]:
        start = perf_counter()
        try:
            image = read_radiograph(io.BytesIO(upload.data), self.settings.max_pixels)
        except UnreadableImage as error:
            raise UploadRejected(upload.filename, error.reason) from None
        self._check_resized_pixels(upload.filename, image)
        return self._transform(image), _ms_since(start)

    def _check_resized_pixels(self, filename: str, image: Image.Image) -> None:
        # The resize scales the shortest side to resize_size: a 1 x 20000 strip passes the
        # decoding limit but would grow to 256 x 5,120,000 before the centre crop.
        short, long = sorted(image.size)
        side, limit = self.predictor.preprocessing.resize_size, self.settings.max_pixels
        resized = side * round(long * side / short)
        if resized > limit:
            raise UploadRejected(
                filename,
                f"too many pixels after resizing: {image.width}x{image.height} becomes "
                f"{resized:,} pixels at resize_size={side} > max_pixels={limit:,}",
            )

    def _predict(self, filename: str, image: torch.Tensor, decode_ms: float, explain: bool):
        batch = image[None].to(self.device)  # (1, 3, S, S)
        with self._model_lock:
            start = perf_counter()
            with torch.inference_mode():
                members = member_probabilities(self.model, batch, self.settings.tta)[0].tolist()
            inference_ms = _ms_since(start)
            probability = sum(members) / len(members)  # the ensemble's mean
            start = perf_counter()
            layers = self._layers(batch, probability) if explain else {}
        timing = Timing(
            decode_ms=decode_ms,
            inference_ms=inference_ms,
            explain_ms=_ms_since(start) if explain else None,
        )
        return self._prediction(filename, probability, members, timing, layers)

    def _layers(self, batch: torch.Tensor, probability: float) -> dict:
        method = self.settings.explain_method
        return explain_layers(self.predictor, batch, probability, method)

    def _prediction(self, filename, probability, members, timing, layers) -> Prediction:
        threshold = self.predictor.threshold
        fractured = probability >= threshold
        return Prediction(
            filename=filename,
            probability=probability,
            label=self.predictor.preprocessing.class_names[int(fractured)],
            fractured=fractured,
            threshold=threshold,
            members=members,
            model=self.name,
            checkpoint_sha256=self.predictor.digest,
            timing=timing,
            **layers,  # overlay, view and cam with explain=true
        )


def _model_name(backbones: list[str]) -> str:
    """``resnet18``, or ``ensemble of 2: resnet18, resnet50``."""
    if len(backbones) == 1:
        return backbones[0]
    return f"ensemble of {len(backbones)}: {', '.join(backbones)}"


def _explain_error(predictor: Predictor) -> str | None:
    """Why Grad-CAM cannot explain this model (a backbone without a conv stage), or None."""
    try:
        for member in predictor.model.members:
            last_stage(member.backbone)
    except FractureError as error:
        return str(error)
    return None


def _ms_since(start: float) -> float:
    return round((perf_counter() - start) * 1000, 3)
