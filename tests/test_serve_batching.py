"""Micro-batching in fracture-serve: concurrent requests share model calls and still each get
their own answer, exactly what a prediction on its own gives."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from fracture.inference.predict import predict_paths
from fracture.serve import create_app
from fracture.serve.batching import BatcherStopped, MicroBatcher
from fracture.trained.predictor import load_predictor
from tests import formats
from tests.test_serve import assert_error, most_at_once, post, settings, tiny_run

WAIT_S = 30  # for what must happen; far above any honest duration on a loaded machine


# --- the batcher alone, with a stand-in model ------------------------------------------------


def row_sums(images: torch.Tensor) -> torch.Tensor:
    """A model whose output names its input: (N, C, H, W) → (N, 1) sums."""
    return images.sum(dim=(1, 2, 3))[:, None].double()


class Gated:
    """``forward`` whose first call waits for ``release``, so that others queue behind it."""

    def __init__(self, forward=row_sums):
        self.forward, self.release, self.entered = forward, threading.Event(), threading.Event()
        self.calls: list[int] = []

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        self.calls.append(len(images))
        self.entered.set()
        assert self.release.wait(WAIT_S)
        return self.forward(images)


@pytest.fixture
def make_batcher():
    batchers = []

    def make(forward, max_batch=8, max_wait_ms=5.0) -> MicroBatcher:
        batcher = MicroBatcher(forward, "cpu", max_batch, max_wait_ms, threading.Lock())
        batcher.start()
        batchers.append(batcher)
        return batcher

    yield make
    for batcher in batchers:
        batcher.stop()


def images(*values: float) -> torch.Tensor:
    """(k, 1, 2, 2) images whose sums are 4 * value."""
    return torch.tensor(values, dtype=torch.float32)[:, None, None, None].expand(-1, 1, 2, 2)


def submit(batcher: MicroBatcher, batch: torch.Tensor):
    with batcher.arriving() as arrival:
        return arrival.submit(batch)


def rows(future) -> list[float]:
    return [v for share in future.result(WAIT_S) for v in share.values[:, 0].tolist()]


def test_waiting_requests_share_one_call_and_get_their_own_rows(make_batcher):
    gated = Gated()
    batcher = make_batcher(gated, max_batch=8)
    first = submit(batcher, images(1))
    assert gated.entered.wait(WAIT_S)  # the first call runs; these three wait for it
    waiting = [submit(batcher, images(*values)) for values in ([2, 3], [4], [5, 6, 7])]
    gated.release.set()
    assert rows(first) == [4.0]
    assert [rows(f) for f in waiting] == [[8.0, 12.0], [16.0], [20.0, 24.0, 28.0]]
    assert gated.calls == [1, 6]
    assert [share.batch_size for f in waiting for share in f.result()] == [6, 6, 6]
    assert dict(batcher.batch_sizes) == {1: 1, 6: 1}


def test_no_call_holds_more_than_max_batch_and_a_larger_request_is_split(make_batcher):
    gated = Gated()
    batcher = make_batcher(gated, max_batch=3)
    submit(batcher, images(0))
    assert gated.entered.wait(WAIT_S)
    large = submit(batcher, images(*range(1, 8)))  # 7 images: chunks of 3, 3 and 1
    small = submit(batcher, images(10, 11))
    gated.release.set()
    assert rows(large) == [4.0 * v for v in range(1, 8)]
    assert rows(small) == [40.0, 44.0]
    assert gated.calls == [1, 3, 3, 3]  # the last chunk of 1 shares its call with "small"
    assert [share.batch_size for share in large.result()] == [3, 3, 3]


def test_a_failing_model_call_fails_every_request_in_it(make_batcher):
    def broken(batch: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("CUDA out of memory")

    gated = Gated(broken)
    batcher = make_batcher(gated)
    first = submit(batcher, images(1))
    assert gated.entered.wait(WAIT_S)
    waiting = [submit(batcher, images(v)) for v in (2, 3)]
    gated.release.set()
    for future in (first, *waiting):
        with pytest.raises(RuntimeError, match="CUDA out of memory"):
            future.result(WAIT_S)
    gated.forward = row_sums  # the thread survives its model's error
    assert rows(submit(batcher, images(5))) == [20.0]


def test_a_lone_request_does_not_wait_for_requests_that_never_come(make_batcher):
    batcher = make_batcher(row_sums, max_wait_ms=60_000)
    start = time.monotonic()
    assert rows(submit(batcher, images(1))) == [4.0]
    with batcher.arriving():  # announced, then rejected (a bad upload) without submitting
        pass
    assert rows(submit(batcher, images(2))) == [8.0]
    assert time.monotonic() - start < WAIT_S / 2


def test_a_batch_waits_for_a_request_still_decoding(make_batcher):
    batcher = make_batcher(row_sums, max_wait_ms=60_000)
    with batcher.arriving() as slow:
        early = submit(batcher, images(1))  # waits: "slow" is still decoding
        time.sleep(0.2)
        assert not early.done()
        late = slow.submit(images(2))
    assert rows(early) + rows(late) == [4.0, 8.0]
    assert early.result()[0].batch_size == 2


def test_stopping_refuses_waiting_requests_and_ends_the_thread(make_batcher):
    gated = Gated()
    batcher = make_batcher(gated)
    running = submit(batcher, images(1))
    assert gated.entered.wait(WAIT_S)
    waiting = submit(batcher, images(2))
    batcher.stop()
    with pytest.raises(BatcherStopped):
        waiting.result(WAIT_S)
    gated.release.set()
    assert rows(running) == [4.0]  # the call in progress ends by itself
    batcher._thread.join(WAIT_S)
    assert not batcher._thread.is_alive()
    with pytest.raises(BatcherStopped):
        submit(batcher, images(3)).result(WAIT_S)
    batcher.start()  # the next run of the server (a test client may start an app again)
    assert rows(submit(batcher, images(4))) == [16.0]


# --- through the real application --------------------------------------------------------------


@pytest.fixture(scope="module")
def predictor(tiny_root, tmp_path_factory):
    return load_predictor(tiny_run(tiny_root, tmp_path_factory))


@pytest.fixture(scope="module")
def paths(tiny_root, tmp_path_factory) -> list:
    """Twelve different radiographs as PNG files."""
    directory = tmp_path_factory.mktemp("batching")
    sources = sorted(tiny_root.rglob("*.png"))[:12]
    return [
        formats.write_png8(directory, np.asarray(Image.open(p)), f"{i}.png")
        for i, p in enumerate(sources)
    ]


def served(predictor, *overrides: str, slow_first_call_s: float = 1.0) -> TestClient:
    """A client of the app whose first model call lasts long enough for others to queue."""
    client = TestClient(create_app(predictor, settings(*overrides)))
    batcher = client.app.state.runner.batcher
    forward, first = batcher.forward, [True]

    def slowed(images: torch.Tensor) -> torch.Tensor:
        if first[0]:
            first[0] = False
            time.sleep(slow_first_call_s)
        return forward(images)

    batcher.forward = slowed
    return client


def concurrently(client, requests: list) -> list:
    """POST every ``(paths, explain)`` at once."""
    with ThreadPoolExecutor(len(requests)) as executor:
        return list(executor.map(lambda r: post(client, *r[0], explain=r[1]), requests))


@pytest.mark.parametrize("threads", [1, 8])  # one thread decodes on while the model runs
def test_concurrent_requests_share_calls_and_get_their_sequential_answers(
    predictor, paths, threads
):
    answers = predict_paths(predictor, paths, progress=False)
    expected = {p.name: e for p, e in zip(paths, answers, strict=True)}
    assert len({round(e.probability, 6) for e in expected.values()}) > 1  # the images differ
    requests = [([p], False) for p in paths] + [(paths[:3], False), (paths[5:9], False)]
    with served(predictor, f"threads={threads}", "queue_size=16", "max_batch=8") as client:
        responses = concurrently(client, requests)
        sizes = client.app.state.runner.batcher.batch_sizes
    assert max(sizes) > 1 and max(sizes) <= 8
    batch_sizes = []
    for (sent, _), response in zip(requests, responses, strict=True):
        assert response.status_code == 200, response.text
        got = response.json()["predictions"]
        assert [g["filename"] for g in got] == [p.name for p in sent]
        for g in got:
            assert g["probability"] == pytest.approx(expected[g["filename"]].probability, abs=1e-6)
            assert g["members"] == pytest.approx(expected[g["filename"]].members, abs=1e-6)
            batch_sizes.append(g["timing"]["batch_size"])
    assert max(batch_sizes) > 1


def test_a_bad_file_fails_only_its_own_request(predictor, paths, tmp_path):
    bad = formats.write_text_as_png(tmp_path)
    expected = predict_paths(predictor, paths[:6], progress=False)
    requests = [([p], False) for p in paths[:6]]
    requests.insert(3, ([paths[6], bad], False))  # a good image in the bad file's request
    with served(predictor, "threads=8", "queue_size=16", "max_wait_ms=200") as client:
        responses = concurrently(client, requests)
        sizes = client.app.state.runner.batcher.batch_sizes
    assert_error(responses.pop(3), 415, "notes.png")
    for response, e in zip(responses, expected, strict=True):
        assert response.status_code == 200, response.text
        [got] = response.json()["predictions"]
        assert got["probability"] == pytest.approx(e.probability, abs=1e-6)
    assert max(sizes) > 1 and sum(n * calls for n, calls in sizes.items()) == 6


def test_grad_cam_runs_alone_while_plain_requests_are_batched(predictor, paths):
    with served(predictor, "threads=1", slow_first_call_s=0) as client:
        alone = post(client, paths[0], explain=True).json()["predictions"][0]
    requests = [([p], False) for p in paths[1:7]]
    requests[2:2] = [([paths[0]], True)]
    member = predictor.model.members[0]
    with most_at_once(member) as most, served(predictor, "threads=8", "queue_size=16") as client:
        responses = concurrently(client, requests)
        sizes = client.app.state.runner.batcher.batch_sizes
    assert most[0] == 1 and max(sizes) > 1
    [explained] = responses[2].json()["predictions"]
    assert explained["overlay"] == alone["overlay"] and explained["timing"]["batch_size"] == 1
    assert explained["probability"] == pytest.approx(alone["probability"], abs=1e-6)
    expected = predict_paths(predictor, paths[1:7], progress=False)
    plain = [r.json()["predictions"][0] for i, r in enumerate(responses) if i != 2]
    for got, e in zip(plain, expected, strict=True):
        assert got["probability"] == pytest.approx(e.probability, abs=1e-6)


def test_test_time_augmentation_is_batched_like_the_plain_model(predictor, paths):
    expected = predict_paths(predictor, paths[:6], tta=True, progress=False)
    with served(predictor, "threads=6", "tta=true") as client:
        responses = concurrently(client, [([p], False) for p in paths[:6]])
        sizes = client.app.state.runner.batcher.batch_sizes
    assert max(sizes) > 1
    for response, e in zip(responses, expected, strict=True):
        got = response.json()["predictions"][0]
        assert got["probability"] == pytest.approx(e.probability, abs=1e-6)


def test_the_batching_thread_lives_as_long_as_the_server(predictor, paths):
    app = create_app(predictor, settings())
    for _ in range(2):  # a test client may start and stop one app several times
        with TestClient(app) as client:
            thread = app.state.runner.batcher._thread
            assert post(client, paths[0]).status_code == 200
        thread.join(WAIT_S)
        assert not thread.is_alive()
