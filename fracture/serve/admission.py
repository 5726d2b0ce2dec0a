"""Admission of uploads: at most ``max_uploads`` predict requests at once, the rest 503.

Counted from their headers, before a byte of the body is read, so slow or many uploads
bound the memory they hold and never crowd out the page, ``/api/v1/health`` or
``/api/v1/model``: requests without a body are not counted. This replaces uvicorn's
``limit_concurrency``, which counts every connection (17 trickling uploads took the health
check down) and answers in plain text.
"""

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from fracture.serve.http_errors import RETRY_AFTER_S

_WITHOUT_BODY = ("GET", "HEAD", "OPTIONS")


class UploadAdmission:
    """ASGI middleware answering 503 (JSON, ``Retry-After``) beyond ``max_uploads`` uploads.

    Args:
        app: The application.
        max_uploads: Requests with a body that may be in progress at once.
    """

    def __init__(self, app: ASGIApp, max_uploads: int):
        self.app = app
        self.max_uploads = max_uploads
        self.active = 0  # one event loop: no lock needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _WITHOUT_BODY:
            return await self.app(scope, receive, send)
        if self.active >= self.max_uploads:
            return await _busy(self.max_uploads)(scope, receive, send)
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1


def _busy(max_uploads: int) -> JSONResponse:
    detail = (
        f"server busy: {max_uploads} uploads are already being received, waiting or "
        f"predicted; try again in {RETRY_AFTER_S} s"
    )
    return JSONResponse({"detail": detail}, 503, headers={"Retry-After": str(RETRY_AFTER_S)})
