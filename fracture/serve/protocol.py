"""uvicorn's h11 protocol with a deadline for request headers.

uvicorn times out idle keep-alive connections, but not a client that sends its headers a
byte at a time; such connections cost little here (no concurrency limit counts them, see
``fracture.serve.admission``), and this closes them after ``header_timeout_s``.
"""

from uvicorn.protocols.http.h11_impl import H11Protocol


class HeaderTimeoutProtocol(H11Protocol):
    """Closes a connection whose request headers are not complete ``header_timeout_s`` after
    it opened or its previous response ended.

    Args:
        header_timeout_s: The deadline, in seconds.
        **kwargs: What uvicorn passes to :class:`H11Protocol`.
    """

    def __init__(self, *args, header_timeout_s: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.header_timeout_s = header_timeout_s
        self._header_timer = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a request's headers arrived: its body has its own deadline
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_late(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()
