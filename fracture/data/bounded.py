"""Work on untrusted files under a deadline: in a worker process that is killed when late.

A thread cannot be stopped, and a signal cannot interrupt a C decoder, so every tool that
decodes files it did not make (training's inspection, the audit, ``fracture-predict``,
``fracture-serve``) calls the decoder through :class:`BoundedWorker` or :func:`bounded_map`.
A call past its deadline kills its process (a fresh one starts for the next call) and
becomes :class:`DecodeTimeout`; a crashed decoder (a segfault, the OOM killer) becomes an
:class:`~fracture.errors.UnreadableImage` too, and the caller goes on with the next file.

Workers are forked: they start in milliseconds with everything already imported, and a
test's monkeypatch reaches them. A process is long-lived, so a call costs one round trip
through a pipe, not a process start. It dies with the thread that started it (Linux), so a
stuck decode does not outlive a killed tool.
"""

import ctypes
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from multiprocessing import Pipe
from multiprocessing.connection import Connection, wait

from fracture.errors import UnreadableImage

TIMEOUT_REASON = "decoding took longer than"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class DecodeTimeout(UnreadableImage):
    """A file whose decoding passed the deadline; its worker process was killed."""

    def __init__(self, path, timeout_s: float):
        super().__init__(path, f"{TIMEOUT_REASON} {timeout_s:g} s")


class BoundedWorker:
    """One worker process running calls one at a time, each within ``timeout_s``.

    Args:
        timeout_s: The deadline of one call, in seconds.
    """

    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        self._pid: int | None = None
        self.connection: Connection | None = None

    def call(self, path, function: Callable, *args):
        """``function(*args)`` in the worker; ``path`` names the file in errors.

        Raises:
            UnreadableImage: What ``function`` raised, a :class:`DecodeTimeout`, or a crash.
        """
        self.send(function, *args)
        if not self.connection.poll(self.timeout_s):
            self.close()
            raise DecodeTimeout(path, self.timeout_s)
        return self.receive(path)

    def send(self, function: Callable, *args) -> None:
        """Start ``function(*args)``; :meth:`receive` gets its result."""
        if self._pid is None:
            self._start()
        try:
            self.connection.send((function, args))
        except OSError:  # it died while idle (the OOM killer): once more with a new one
            self.close()
            self._start()
            self.connection.send((function, args))

    def receive(self, path):
        """The result of the call :meth:`send` started; raises as :meth:`call` does."""
        try:
            kind, value = self.connection.recv()
        except (EOFError, OSError):
            code = self._reap()
            raise UnreadableImage(path, f"the decoder crashed (exit code {code})") from None
        if kind == "unreadable":
            raise UnreadableImage(path, value)
        if kind == "error":
            raise RuntimeError(value)
        return value

    def kill(self) -> None:
        """Kill the process from another thread; the thread in :meth:`call` sees a crash."""
        pid = self._pid
        if pid is not None:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def close(self) -> None:
        """Kill the process (a running call with it); the next call starts a new one."""
        self.kill()
        self._reap()

    def _reap(self) -> int | None:
        """Wait for the process to end (killing it after a second) and forget it."""
        pid, connection = self._pid, self.connection
        self._pid = self.connection = None
        if pid is None:
            return None
        connection.close()
        for _ in range(100):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.01)
        os.kill(pid, signal.SIGKILL)
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

    def _start(self) -> None:
        # os.fork, not multiprocessing: DataLoader workers are daemonic processes, which
        # multiprocessing forbids to have children.
        ours, theirs = Pipe()
        pid = os.fork()
        if pid == 0:
            ours.close()
            _serve(theirs)  # never returns
        theirs.close()
        self._pid, self.connection = pid, ours


def _serve(connection: Connection) -> None:
    """The worker's loop: run each call, send back its result or why it failed."""
    try:
        _as_a_worker()
        while True:
            try:
                function, args = connection.recv()
            except EOFError:  # the parent closed its end, or went away
                break
            connection.send(_answer(function, args))
    finally:
        os._exit(0)  # never fall back into the forked parent's code


def _as_a_worker() -> None:
    # The parent's handlers (uvicorn's, pytest's) are not ours: Ctrl-C and SIGTERM end us.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with suppress(OSError, AttributeError):  # Linux: die with the thread that forked us
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _answer(function: Callable, args: tuple) -> tuple[str, object]:
    try:
        return "ok", function(*args)
    except UnreadableImage as error:
        return "unreadable", error.reason
    except Exception as error:  # a bug, not a bad file: the caller raises it
        return "error", f"{type(error).__name__}: {error}"


def bounded_map(
    function: Callable,
    items: Iterable,
    timeout_s: float,
    workers: int,
    failed: Callable,
) -> Iterator[tuple[int, object]]:
    """``(index, function(item))`` for every item, computed by ``workers`` processes.

    Results come in the order they finish. An item whose call passes ``timeout_s`` or
    crashes its worker yields ``failed(item, reason)`` instead, and the others go on.
    """
    pending = deque(enumerate(items))
    pool = [BoundedWorker(timeout_s) for _ in range(max(1, min(workers, len(pending))))]
    busy: dict[Connection, tuple[BoundedWorker, int, object, float]] = {}
    try:
        while pending or busy:
            _dispatch(function, pending, pool, busy, timeout_s)
            yield from _collect(busy, failed)
    finally:
        for worker in pool:
            worker.close()


def _dispatch(function, pending: deque, pool: list, busy: dict, timeout_s: float) -> None:
    idle = [worker for worker in pool if worker.connection not in busy]
    for worker in idle[: len(pending)]:
        index, item = pending.popleft()
        worker.send(function, item)
        busy[worker.connection] = (worker, index, item, time.monotonic() + timeout_s)


def _collect(busy: dict, failed: Callable) -> Iterator[tuple[int, object]]:
    """Wait for the first result or deadline; yield what finished, fail what is late."""
    first_deadline = min(deadline for *_, deadline in busy.values())
    ready = set(wait(list(busy), timeout=max(0.0, first_deadline - time.monotonic())))
    for connection in list(busy):
        worker, index, item, deadline = busy[connection]
        if connection in ready:
            del busy[connection]
            yield index, _result(worker, item, failed)
        elif deadline <= time.monotonic():
            del busy[connection]
            worker.close()
            yield index, failed(item, f"{TIMEOUT_REASON} {worker.timeout_s:g} s")


def _result(worker: BoundedWorker, item, failed: Callable):
    try:
        return worker.receive(item)
    except UnreadableImage as error:
        return failed(item, error.reason)
