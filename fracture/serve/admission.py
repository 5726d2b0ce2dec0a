"""Admission of uploads: same-origin only, and at most ``max_uploads`` at once, the rest 503.

A multipart POST is a CORS "simple request": any page open in a browser on this machine
could send one without asking. Browsers name the sending page in ``Origin``; an upload whose
Origin is not this server (its ``Host``) is refused (403). Clients that are not browsers
(curl, scripts) send no Origin and are not affected.

Counted from their headers, before a byte of the body is read, so slow or many uploads
bound the memory they hold and never crowd out the page, ``/api/v1/health`` or
``/api/v1/model``: requests without a body are not counted. This replaces uvicorn's
``limit_concurrency``, which counts every connection (17 trickling uploads took the health
check down) and answers in plain text.
"""

from urllib.parse import urlsplit

from starlette.datastructures import Headers
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
        foreign = _foreign_origin(Headers(scope=scope))
        if foreign:
            return await JSONResponse({"detail": foreign}, 403)(scope, receive, send)
        if self.active >= self.max_uploads:
            return await _busy(self.max_uploads)(scope, receive, send)
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1


def _foreign_origin(headers: Headers) -> str | None:
    """Why the request comes from another site's page, or None."""
    origin, host = headers.get("origin"), headers.get("host")
    if origin is None or urlsplit(origin).netloc == host:
        return None
    return (
        f"cross-origin upload refused: Origin {origin} is not this server ({host}); "
        "behind a reverse proxy, pass the Host header on (nginx: proxy_set_header Host "
        "$http_host)"
    )


def _busy(max_uploads: int) -> JSONResponse:
    detail = (
        f"server busy: {max_uploads} uploads are already being received, waiting or "
        f"predicted; try again in {RETRY_AFTER_S} s"
    )
    return JSONResponse({"detail": detail}, 503, headers={"Retry-After": str(RETRY_AFTER_S)})
