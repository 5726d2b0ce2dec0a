"""The JSON API under ``/api/v1``: predict, model metadata and health."""

import asyncio
from time import perf_counter
from typing import Annotated

from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, Response, UploadFile

from fracture.errors import UnreadableImage
from fracture.serve.http_errors import ERROR_RESPONSES
from fracture.serve.panel import preview_png
from fracture.serve.pool import InferencePool
from fracture.serve.runner import ModelRunner, Upload, UploadRejected
from fracture.serve.schemas import Health, Limits, ModelInfo, PredictResponse

router = APIRouter(tags=["api"])
_MAX_FILENAME = 200  # characters echoed back; a name is a label, not a payload


def _runner(request: Request) -> ModelRunner:
    return request.app.state.runner


def _pool(request: Request) -> InferencePool:
    return request.app.state.pool


Runner = Annotated[ModelRunner, Depends(_runner)]


@router.post("/predict", response_model=PredictResponse, responses=ERROR_RESPONSES)
async def predict(
    files: Annotated[
        list[UploadFile],
        File(min_length=1, description="One or more X-rays: PNG, JPEG, DICOM, TIFF, ..."),
    ],
    runner: Runner,
    pool: Annotated[InferencePool, Depends(_pool)],
    explain: Annotated[
        bool, Query(description="Add each image's Grad-CAM overlay as a PNG data URL")
    ] = False,
) -> PredictResponse:
    """P(fractured) and the decision at the model's threshold, for each uploaded image."""
    start = perf_counter()
    if explain and runner.explain_error:
        raise HTTPException(422, f"explain=true is not available: {runner.explain_error}")
    uploads = [Upload(_filename(file, i), await file.read()) for i, file in enumerate(files)]
    # A thread decodes; the model call may be shared with other requests and end later.
    answered = await pool.run(runner.predict, uploads, explain)
    predictions = await asyncio.wrap_future(answered)
    return PredictResponse(predictions=predictions, total_ms=(perf_counter() - start) * 1000)


@router.get("/model", response_model=ModelInfo)
async def model(runner: Runner, request: Request) -> ModelInfo:
    """The loaded model, its preprocessing and decision threshold, and the request limits."""
    settings, predictor = runner.settings, runner.predictor
    return ModelInfo(
        model=runner.name,
        backbones=runner.backbones,
        members=len(runner.backbones),
        class_names=list(predictor.decision.class_names),
        preprocessing=predictor.preprocessing.to_dict(),
        threshold=predictor.decision.threshold,
        temperature=predictor.decision.temperature,
        checkpoint_sha256=runner.predictor.digest,
        tta=settings.tta,
        explain_method=None if runner.explain_error else settings.explain_method,
        device=str(runner.device),
        limits=Limits(
            max_upload_mb=settings.max_upload_mb,
            max_files=settings.max_files,
            max_pixels=settings.max_pixels,
            decode_timeout_s=settings.decode_timeout_s,
            body_timeout_s=settings.body_timeout_s,
        ),
        card=request.app.state.card,
        cam_grid=request.app.state.cam_grid,
    )


@router.post("/preview", response_class=Response, responses=ERROR_RESPONSES)
async def preview(
    file: Annotated[UploadFile, File(description="One image: PNG, JPEG, DICOM, 16-bit TIFF")],
    runner: Runner,
    pool: Annotated[InferencePool, Depends(_pool)],
) -> Response:
    """The image as the model's decoding reads it, as a PNG: browsers cannot show DICOM."""
    data, name = await file.read(), _filename(file, 0)
    try:
        png = await pool.run(preview_png, data, runner.settings.max_pixels)
    except UnreadableImage as error:
        raise UploadRejected(name, error.reason) from None
    return Response(png, media_type="image/png")


@router.get("/health", response_model=Health)
async def health(runner: Runner) -> Health:
    """Answers while the server runs; the model is loaded before the server accepts requests."""
    return Health(status="ok", model_loaded=runner.backend is not None)


def _filename(file: UploadFile, index: int) -> str:
    return (file.filename or f"file {index + 1}")[:_MAX_FILENAME]
