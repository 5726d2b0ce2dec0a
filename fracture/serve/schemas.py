"""The JSON the API answers with, as pydantic models so the OpenAPI document describes it."""

from typing import Literal

from pydantic import BaseModel, Field


class Timing(BaseModel):
    """Milliseconds spent on one image; its model call may be shared with other requests."""

    decode_ms: float = Field(description="Decoding the file and preprocessing it")
    inference_ms: float = Field(
        description="The model call that predicted it, all images of its batch together"
    )
    explain_ms: float | None = Field(None, description="The Grad-CAM overlay, with explain=true")
    batch_size: int | None = Field(
        None, description="Images in that model call, from this and concurrent requests"
    )


class Prediction(BaseModel):
    """The model's answer for one uploaded image."""

    filename: str = Field(description="The upload's file name, as sent")
    probability: float = Field(description="P(fractured); the members' mean for an ensemble")
    label: str = Field(description="Class name decided at the threshold")
    fractured: bool = Field(description="probability >= threshold")
    threshold: float = Field(description="Decision threshold stored with the checkpoint")
    members: list[float] = Field(description="P(fractured) of each ensemble member")
    model: str = Field(description="Backbone, or the ensemble's backbones")
    checkpoint_sha256: str = Field(description="SHA-256 naming exactly which weights answered")
    timing: Timing
    overlay: str | None = Field(
        None, description="Grad-CAM overlay as a data:image/png;base64 URL, with explain=true"
    )
    view: str | None = Field(None, description="The overlay's radiograph alone (data URL)")
    cam: str | None = Field(None, description="The overlay's coloured map alone (data URL)")


class PredictResponse(BaseModel):
    """One prediction per uploaded file, in upload order."""

    predictions: list[Prediction]
    total_ms: float = Field(description="The whole request, waiting for a thread included")


class Limits(BaseModel):
    """What one request may hold."""

    max_upload_mb: float = Field(description="Largest request body in MiB, all files together")
    max_files: int = Field(description="Most images in one request")
    max_pixels: int = Field(
        description="Most pixels (width x height) decoded per request, all its images together"
    )
    decode_timeout_s: float = Field(description="Deadline for decoding one image (else 422)")
    body_timeout_s: float = Field(description="Deadline for receiving the body (else 408)")


class ModelInfo(BaseModel):
    """The loaded model and how it turns an image into a decision."""

    model: str = Field(description="Backbone, or the ensemble's backbones")
    backbones: list[str] = Field(description="Backbone of each member")
    members: int = Field(description="Number of ensemble members (1 for a single checkpoint)")
    class_names: list[str] = Field(description="Class names in index order; 1 is fractured")
    preprocessing: dict = Field(description="Image size, resize, normalisation, as trained")
    threshold: float
    temperature: float = Field(description="Calibration temperature (1.0: none)")
    checkpoint_sha256: str
    tta: bool = Field(description="Whether the mirrored image is averaged in")
    explain_method: str | None = Field(description="Grad-CAM variant; null if unavailable")
    device: str
    limits: Limits
    card: dict | None = Field(
        None, description="Training data, validation numbers, intended use; null: not recorded"
    )
    cam_grid: list[int] | None = Field(
        None, description="Rows and columns of the class activation map at the input size"
    )


class Health(BaseModel):
    status: Literal["ok"]
    model_loaded: bool


class ErrorDetail(BaseModel):
    """Every error: one line naming the file or value and what is wrong."""

    detail: str
