"""What an inference thread does with one request: decode, check, predict, explain.

Uploads are decoded in a worker process per inference thread (``fracture.data.bounded``),
killed at ``decode_timeout_s``: a file that hangs its decoder costs its request a 422, not
the thread. The images of one request share one ``max_pixels`` budget, so sixteen large
files cost what one may. Plain predictions then join other requests' images in one model call
(``fracture.serve.batching``); Grad-CAM runs image by image in the request's own thread.
"""

import io
import threading
from dataclasses import dataclass
from time import perf_counter

import torch
from PIL import Image

from fracture.data.bounded import BoundedWorker
from fracture.data.decode import read_radiograph
from fracture.errors import FractureError, UnreadableImage
from fracture.inference.explain import last_stage
from fracture.serve.batching import MicroBatcher
from fracture.serve.panel import explain_layers
from fracture.serve.schemas import Prediction, Timing
from fracture.serve.settings import ServeSettings
from fracture.trained.backends import TorchBackend
from fracture.trained.loop import InputBatch, run_batches
from fracture.trained.predictor import Predictor


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
        self.backend = TorchBackend(predictor.model, self.device, settings.tta)
        self.model = self.backend.model
        self.backbones = [member.hparams.backbone for member in self.model.members]
        self.name = _model_name(self.backbones)
        self.explain_error = _explain_error(predictor)
        self._transform = predictor.preprocessing.eval_transform()
        # Grad-CAM hooks the shared model, and its hooks would record another thread's forward
        # pass too: model calls take turns, while decoding and preprocessing overlap.
        self._model_lock = threading.Lock()
        self.batcher = MicroBatcher(
            self.backend, self.device, settings.max_batch, settings.max_wait_ms, self._model_lock
        )
        self._local = threading.local()  # each inference thread's decoding process
        self._decoders: list[BoundedWorker] = []

    def predict(self, uploads: list[Upload], explain: bool) -> list[Prediction]:
        """One prediction per upload, in order.

        Args:
            uploads: The request's files.
            explain: Add each image's Grad-CAM overlay.

        Raises:
            UploadRejected: For the first file that cannot be used; nothing is predicted then.
        """
        if explain:
            prepared = zip(uploads, self._prepare_all(uploads), strict=True)
            return [self._explained(u.filename, image, ms) for u, (image, ms) in prepared]
        return self._batched(uploads)

    def _batched(self, uploads: list[Upload]) -> list[Prediction]:
        # Announced before decoding, so that a batch forming meanwhile may wait for these.
        with self.batcher.arriving() as arrival:
            prepared = self._prepare_all(uploads)
            pending = arrival.submit(torch.stack([image for image, _ in prepared]))
        shares = [future.result() for future in pending]  # model calls shared with others
        rows = [(row, share) for share in shares for row in share.values]
        return [
            self._prediction(upload.filename, row.tolist(), share.timing(decode_ms), {})
            for upload, (_, decode_ms), (row, share) in zip(uploads, prepared, rows, strict=True)
        ]

    def _prepare_all(self, uploads: list[Upload]) -> list[tuple[torch.Tensor, float]]:
        # Every file first: one bad file fails the request before any model time is spent.
        budget, prepared = self.settings.max_pixels, []
        for upload in uploads:
            image, decode_ms = self._prepare(upload, budget)
            budget -= image.width * image.height
            prepared.append((self._transform(image), decode_ms))
        return prepared

    def stop_decoders(self) -> None:
        """Kill every decoding process; a thread waiting on one gets its upload refused."""
        for decoder in list(self._decoders):
            decoder.kill()

    def _decoder(self) -> BoundedWorker:
        if not hasattr(self._local, "decoder"):
            self._local.decoder = BoundedWorker(self.settings.decode_timeout_s)
            self._decoders.append(self._local.decoder)
        return self._local.decoder

    def _prepare(self, upload: Upload, budget: int) -> tuple[Image.Image, float]:
        start = perf_counter()
        try:
            image = self._decoder().call(upload.filename, _decode_upload, upload.data, budget)
        except UnreadableImage as error:
            raise UploadRejected(upload.filename, self._reason(error.reason, budget)) from None
        self._check_resized_pixels(upload.filename, image)
        return image, _ms_since(start)

    def _reason(self, reason: str, budget: int) -> str:
        if not reason.startswith("too many pixels") or budget == self.settings.max_pixels:
            return reason
        return f"{reason} (the images of one request share it: {budget:,} pixels were left)"

    def _check_resized_pixels(self, filename: str, image: Image.Image) -> None:
        # fit=crop scales the shortest side to resize_size: a 1 x 20000 strip passes the
        # decoding limit but would grow to 256 x 5,120,000 before the centre crop.
        preprocessing, limit = self.predictor.preprocessing, self.settings.max_pixels
        width, height = preprocessing.fitted_size(*image.size)
        if width * height > limit:
            raise UploadRejected(
                filename,
                f"too many pixels after resizing: {image.width}x{image.height} becomes "
                f"{width * height:,} pixels at resize_size={preprocessing.resize_size} "
                f"> max_pixels={limit:,}",
            )

    def _explained(self, filename: str, image: torch.Tensor, decode_ms: float) -> Prediction:
        batch = image[None].to(self.device)  # (1, 3, S, S)
        # Unbatched: the CAM hooks must see this image's forward pass and nobody else's.
        with self._model_lock:
            start = perf_counter()
            outputs = run_batches(self.backend, [InputBatch(batch, [0])], 1, self.device)
            members = outputs.values[0].tolist()
            inference_ms = _ms_since(start)
            start = perf_counter()
            layers = self._layers(batch, _mean(members))
        timing = Timing(
            decode_ms=decode_ms,
            inference_ms=inference_ms,
            explain_ms=_ms_since(start),
            batch_size=1,
        )
        return self._prediction(filename, members, timing, layers)

    def _layers(self, batch: torch.Tensor, probability: float) -> dict:
        method = self.settings.explain_method
        return explain_layers(self.predictor, batch, probability, method)

    def _prediction(self, filename, members, timing, layers) -> Prediction:
        threshold, probability = self.predictor.threshold, _mean(members)
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


def _decode_upload(data: bytes, max_pixels: int) -> Image.Image:
    """Runs in the decoding process: the upload's bytes to the grayscale image."""
    return read_radiograph(io.BytesIO(data), max_pixels)


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


def _mean(members: list[float]) -> float:
    return sum(members) / len(members)  # the ensemble's probability


def _ms_since(start: float) -> float:
    return round((perf_counter() - start) * 1000, 3)
