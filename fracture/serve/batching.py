"""Micro-batching: the images of requests that arrive together share one model call.

Inference threads decode their request's uploads in parallel and hand the prepared tensors
to one batching thread, which owns the plain (unexplained) model calls. It stacks the images
of waiting requests, up to ``max_batch``, runs them through
:func:`fracture.trained.loop.run_batches` once and gives each request its own rows back.
On a GPU a batch of eight costs little more than one image; on a few CPU cores the gain is
smaller, but concurrent requests at least stop queueing one image at a time.

After the first request of a batch arrives, the thread waits at most ``max_wait_ms`` for
more, and only while some other request is still being decoded: a lone client pays no wait.
"""

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from time import monotonic, perf_counter

import torch

from fracture.serve.schemas import Timing
from fracture.trained.loop import InputBatch, run_batches


class BatcherStopped(Exception):
    """The server is stopping; a request still waiting for its model call gets no answer."""


@dataclass(frozen=True)
class BatchRows:
    """A request's share of one model call.

    Attributes:
        values: (k, M) outputs of k of the request's images, in the order they were submitted.
        batch_size: Images in the model call, this request's and the others'.
        inference_ms: Duration of the whole model call.
    """

    values: torch.Tensor
    batch_size: int
    inference_ms: float

    def timing(self, decode_ms: float) -> Timing:
        """An image's timing: its own decoding, the shared call."""
        return Timing(
            decode_ms=decode_ms, inference_ms=self.inference_ms, batch_size=self.batch_size
        )


@dataclass
class _Waiting:
    images: torch.Tensor  # (k, 3, S, S)
    future: Future


class MicroBatcher:
    """One thread that runs the model on the stacked images of waiting requests.

    Args:
        forward: A backend: (N, 3, S, S) images on ``device`` → (N, M) outputs on the CPU.
        device: Where ``forward`` expects its inputs.
        max_batch: Most images in one call; a request with more is split across calls.
        max_wait_ms: How long the first request of a batch waits for others.
        model_lock: Held during each call, so no other user of the model (Grad-CAM's hooks)
            sees the batch's forward pass.
    """

    def __init__(
        self,
        forward: Callable[[torch.Tensor], torch.Tensor],
        device: str | torch.device,
        max_batch: int,
        max_wait_ms: float,
        model_lock: threading.Lock,
    ):
        self.forward, self.device, self.max_batch = forward, device, max_batch
        self.max_wait_s = max_wait_ms / 1000
        self._model_lock = model_lock
        self._changed = threading.Condition()
        self._waiting: list[_Waiting] = []
        self._decoding = 0  # requests announced by `arriving` that have not submitted yet
        # One per server run, set from the start: the thread of an earlier run may still be
        # finishing its last call when the next run's thread starts, and must not carry on.
        self._stopped = threading.Event()
        self._stopped.set()
        self._thread: threading.Thread | None = None
        self.batch_sizes: Counter[int] = Counter()  # images per call → calls, for tests

    def start(self) -> None:
        """Start the batching thread (once per server run; :meth:`stop` ends it)."""
        with self._changed:
            self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, args=(self._stopped,), name="fracture-batcher", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Refuse waiting requests and let the thread end after its current call, if any; a
        server must stop without waiting for a model call (it ends by itself)."""
        with self._changed:
            self._stopped.set()
            dropped, self._waiting = self._waiting, []
            self._changed.notify_all()
        for item in dropped:
            item.future.set_exception(BatcherStopped("the server is stopping"))

    def arriving(self) -> "Arrival":
        """Announce a request that is being decoded, so that a forming batch may wait for it.

        Use as ``with batcher.arriving() as arrival: ...; future = arrival.submit(images)``;
        leaving the block without submitting (a rejected upload) withdraws the announcement.
        """
        with self._changed:
            self._decoding += 1
        return Arrival(self)

    def _submit(self, images: torch.Tensor) -> list["Future[BatchRows]"]:
        # Called by Arrival: enqueueing and ending the announcement are one step, so the
        # batching thread never sees the request as neither decoding nor waiting.
        waiting = [_Waiting(chunk, Future()) for chunk in images.split(self.max_batch)]
        with self._changed:
            self._decoding -= 1
            if self._stopped.is_set():
                for item in waiting:
                    item.future.set_exception(BatcherStopped("the server is stopping"))
            else:
                self._waiting.extend(waiting)
            self._changed.notify_all()
        return [item.future for item in waiting]

    def _withdraw(self) -> None:
        with self._changed:
            self._decoding -= 1
            self._changed.notify_all()

    def _loop(self, stopped: threading.Event) -> None:
        while (batch := self._next_batch(stopped)) is not None:
            self._run(batch)

    def _next_batch(self, stopped: threading.Event) -> list[_Waiting] | None:
        """The requests of the next call, or None once ``stopped``."""
        with self._changed:
            self._changed.wait_for(lambda: self._waiting or stopped.is_set())
            deadline = monotonic() + self.max_wait_s
            while not stopped.is_set() and self._worth_waiting() and monotonic() < deadline:
                self._changed.wait(deadline - monotonic())
            return None if stopped.is_set() else self._take()

    def _worth_waiting(self) -> bool:
        return self._decoding > 0 and _count(self._waiting) < self.max_batch

    def _take(self) -> list[_Waiting]:
        # Whole chunks in arrival order, none larger than max_batch: the first always fits.
        taken, count = [], 0
        while self._waiting and count + len(self._waiting[0].images) <= self.max_batch:
            taken.append(self._waiting.pop(0))
            count += len(taken[-1].images)
        return taken

    def _run(self, batch: list[_Waiting]) -> None:
        images = torch.cat([item.images for item in batch])  # (N, 3, S, S)
        count = len(images)
        try:
            with self._model_lock:
                start = perf_counter()
                outputs = run_batches(
                    self.forward, [InputBatch(images, list(range(count)))], count, self.device
                )
                inference_ms = round((perf_counter() - start) * 1000, 3)
        except Exception as error:  # every request of the batch gets the model's error
            for item in batch:
                item.future.set_exception(error)
            return
        self.batch_sizes[count] += 1
        start = 0
        for item in batch:
            rows = outputs.values[start : start + len(item.images)]
            start += len(item.images)
            item.future.set_result(BatchRows(rows, count, inference_ms))


class Arrival:
    """A request being decoded for the batcher; see :meth:`MicroBatcher.arriving`."""

    def __init__(self, batcher: MicroBatcher):
        self._batcher, self._open = batcher, True

    def submit(self, images: torch.Tensor) -> list["Future[BatchRows]"]:
        """Queue the request's prepared (k, 3, S, S) images, in chunks of at most
        ``max_batch``; each chunk's future holds its rows, in order."""
        self._open = False
        return self._batcher._submit(images)

    def __enter__(self) -> "Arrival":
        return self

    def __exit__(self, *exc_info) -> None:
        if self._open:
            self._open = False
            self._batcher._withdraw()


def _count(waiting: list[_Waiting]) -> int:
    return sum(len(item.images) for item in waiting)
