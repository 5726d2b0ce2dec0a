"""A cap on request bodies, in size and in time, enforced while they stream in.

``Content-Length`` refuses an announced oversize body before a byte of it is read; counting
the bytes that arrive catches bodies that announce less than they send, or nothing (chunked).
A body must arrive in full within ``timeout_s`` of its first read: a client that trickles it
a byte at a time is answered 408 instead of holding its upload slot for ever.
"""

import asyncio
from time import monotonic

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """413; an HTTPException, so FastAPI's body parsing passes it on to the error handlers."""

    def __init__(self, max_bytes: int, what: str):
        limit = f"{max_bytes / 2**20:g} MiB ({max_bytes:,} bytes, max_upload_mb)"
        super().__init__(413, f"request body too large: {what} > the limit of {limit}")


class BodyTooSlow(HTTPException):
    """408, for a body that did not arrive in full within the deadline."""

    def __init__(self, timeout_s: float):
        super().__init__(
            408,
            f"request body too slow: not received in full within {timeout_s:g} s (body_timeout_s)",
        )


class BodyLimit:
    """ASGI middleware answering 413 to request bodies over ``max_bytes``, 408 to slow ones.

    Args:
        app: The application.
        max_bytes: The largest body accepted.
        timeout_s: Seconds a whole body may take to arrive.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float):
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            error = BodyTooLarge(self.max_bytes, f"Content-Length {declared:,} bytes")
            response = JSONResponse({"detail": error.detail}, status_code=413)
            return await response(scope, receive, send)
        await self.app(scope, self._counting(receive), send)

    def _counting(self, receive: Receive) -> Receive:
        received, deadline, complete = 0, None, False

        async def counted() -> Message:
            nonlocal received, deadline, complete
            if complete:  # later reads wait for a disconnect, not for the body
                return await receive()
            deadline = deadline or monotonic() + self.timeout_s
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - monotonic()))
            except TimeoutError:
                raise BodyTooSlow(self.timeout_s) from None
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise BodyTooLarge(self.max_bytes, f"more than {self.max_bytes:,} bytes sent")
            complete = not message.get("more_body", False)
            return message

        return counted


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    return int(value) if value is not None and value.isdigit() else None
