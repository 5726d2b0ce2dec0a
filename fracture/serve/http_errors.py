"""Every error as JSON ``{"detail": "<one line>"}``, under the status code that says what kind.

413: too large (body, file count, pixels); 415: not an image, or a format we cannot decode;
422: a corrupt or empty file, a decode past its deadline, a missing field or a bad parameter;
503: the queue is full, or the server is stopping (``fracture.serve.admission`` answers 403 and
503 before the body is read, ``fracture.serve.body_limit`` 408 and 413 while it is).
"""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from fracture.serve.batching import BatcherStopped
from fracture.serve.pool import QueueFull
from fracture.serve.runner import UploadRejected
from fracture.serve.schemas import ErrorDetail

RETRY_AFTER_S = 1  # a prediction takes well under a second; a client may try again soon
# What the multipart parser (Starlette) says when a request holds more than max_files files.
_TOO_MANY_FILES = "Too many files"

ERROR_RESPONSES = {
    code: {"model": ErrorDetail, "description": description}
    for code, description in {
        400: "Malformed multipart body",
        403: "An upload sent by a browser page of another origin",
        408: "Body not received in full within body_timeout_s",
        413: "Body over max_upload_mb, more than max_files files, or images over max_pixels "
        "(all of one request together)",
        415: "Not an image, or a format or DICOM encoding that cannot be decoded",
        422: "Corrupt or empty image, decoding over decode_timeout_s, no file, or a bad parameter",
        503: "threads + queue_size uploads already in progress, or the server is stopping; "
        "retry after Retry-After seconds",
    }.items()
}


def upload_status(reason: str) -> int:
    """The status code for a decoding failure, from its reason (see fracture.data.decode)."""
    if reason.startswith("too many pixels"):
        return 413
    if reason.startswith(("not an image", "unsupported")):
        return 415
    return 422


def install_error_handlers(app: FastAPI, max_files: int) -> None:
    """Register the handlers that turn every failure into ``{"detail": ...}``."""
    app.add_exception_handler(UploadRejected, _upload_rejected)
    app.add_exception_handler(QueueFull, _queue_full)
    app.add_exception_handler(BatcherStopped, _stopping)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _unexpected)

    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        if error.status_code == 400 and str(error.detail).startswith(_TOO_MANY_FILES):
            return _error(413, f"too many files: at most {max_files} per request (max_files)")
        return _error(error.status_code, str(error.detail), error.headers)

    app.add_exception_handler(HTTPException, http_error)


async def _upload_rejected(request: Request, error: UploadRejected) -> JSONResponse:
    return _error(upload_status(error.reason), f"{error.filename}: {error.reason}")


async def _queue_full(request: Request, error: QueueFull) -> JSONResponse:
    detail = f"server busy: {error}; try again in {RETRY_AFTER_S} s"
    return _error(503, detail, {"Retry-After": str(RETRY_AFTER_S)})


async def _stopping(request: Request, error: BatcherStopped) -> JSONResponse:
    return _error(503, f"{error}; try again", {"Retry-After": str(RETRY_AFTER_S)})


async def _invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
    problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()]
    hint = " (send images as multipart/form-data in the field 'files')"
    body = any(e["loc"][:1] == ("body",) for e in error.errors())
    return _error(422, "; ".join(problems) + (hint if body else ""))


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    # Starlette re-raises it after this answer, so the server logs the traceback.
    return _error(500, f"internal error ({type(error).__name__}); see the server log")


def _error(status: int, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": " ".join(detail.split())}, status, headers=headers)
