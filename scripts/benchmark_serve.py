"""Load benchmark of fracture-serve: requests/s and p50/p95 latency of single-image predictions.

    .venv/bin/python scripts/benchmark_serve.py --ckpt <run dir | .ckpt> [--clients 4]
    .venv/bin/python scripts/benchmark_serve.py --backbone resnet50  # random weights, 224 px

Starts the real application under uvicorn in a child process on a free loopback port, with
``conf/serve.yaml``'s settings (``--set threads=2`` overrides them); server and clients are
pinned to the first ``--cores`` CPUs. ``--clients`` threads then send one synthetic
radiograph PNG per request over keep-alive connections for ``--seconds`` after a warm-up, and
the script prints requests/s and latency percentiles as the clients saw them. Results are
recorded in README.md. ``scripts/benchmark_inference.py`` measures every backend with the
functions here (``measure_serving``).
"""

import argparse
import io
import itertools
import multiprocessing
import os
import socket
import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from hydra import compose, initialize_config_dir
from PIL import Image

from fracture.synth import render_radiograph
from fracture.train import CONF_DIR


def main() -> None:
    args = _arguments()
    os.sched_setaffinity(0, range(args.cores))  # inherited by the server process
    png = radiograph_png(args.image_px)
    result = measure_serving(
        args.ckpt, args.backbone, args.set, [png], args.clients, args.seconds, args.warmup
    )
    _report(args, result)


@dataclass
class LoadResult:
    """What the clients saw: latencies (s) of answered requests, failed status codes."""

    latencies: list[float] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict:
        """Requests, requests/s, p50/p95/p99 latency in ms, failures."""
        cuts = statistics.quantiles(self.latencies, n=100) if len(self.latencies) > 1 else []
        cuts = [c * 1000 for c in cuts] or [float("nan")] * 99
        return {
            "requests": len(self.latencies),
            "requests_per_s": len(self.latencies) / self.seconds if self.seconds else 0.0,
            **{f"p{q}_ms": cuts[q - 1] for q in (50, 95, 99)},
            "failures": len(self.failures),
            "failed_statuses": sorted(set(self.failures)),
        }


def measure_serving(
    ckpt: str | None,
    backbone: str | None,
    overrides: Sequence[str],
    pngs: Sequence[bytes],
    clients: int,
    seconds: float,
    warmup: float,
) -> LoadResult:
    """Serve a model in a spawned child process and load it; the child is stopped after.

    Args:
        ckpt: What ``fracture-serve ckpt=`` accepts; served exactly as ``fracture-serve``.
        backbone: Else a torchvision backbone with random weights (``random_predictor``).
        overrides: ``conf/serve.yaml`` overrides.
        pngs: The uploads; each client sends them in turn, one per request.
        clients: Concurrent keep-alive clients.
        seconds: Measured duration, after ``warmup`` unmeasured seconds.
    """
    port = free_port()
    args = (ckpt, backbone, list(overrides), port)
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=args)
    server.start()
    try:
        url = f"http://127.0.0.1:{port}/api/v1/"
        _wait_until_healthy(url, server)
        drive_load(url, pngs, clients, warmup)
        return drive_load(url, pngs, clients, seconds)
    finally:
        server.terminate()
        server.join()


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--ckpt", help="checkpoint, run directory or ensemble.json")
    model.add_argument("--backbone", help="a torchvision backbone with random weights, 224 px")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=30, help="measured duration")
    parser.add_argument("--warmup", type=float, default=5, help="unmeasured duration first")
    parser.add_argument("--cores", type=int, default=2, help="CPUs for server and clients")
    parser.add_argument("--image-px", type=int, default=512, help="side of the uploaded PNG")
    parser.add_argument("--set", nargs="*", default=[], help="conf/serve.yaml overrides")
    return parser.parse_args()


def _serve(ckpt: str | None, backbone: str | None, overrides: list[str], port: int) -> None:
    import uvicorn

    import fracture.serve.app as serve_app
    from fracture.serve import ServeSettings, create_app
    from fracture.serve.cli import build_app, uvicorn_config

    with initialize_config_dir(version_base="1.3", config_dir=CONF_DIR):
        address = ["host=127.0.0.1", f"port={port}", "log_level=warning"]
        cfg = compose("serve", overrides=[f"ckpt={ckpt or 'unused'}", *address, *overrides])
    if ckpt:
        app = build_app(cfg)  # as fracture-serve builds it
    else:  # random weights come from no checkpoint file, so with no model card
        serve_app.stored_card = lambda predictor: None
        app = create_app(random_predictor(backbone), ServeSettings.from_config(cfg))
    uvicorn.Server(uvicorn_config(app, cfg)).run()


def random_predictor(backbone: str):
    """``backbone`` built as conf/model/ builds it (channels-last), with random weights,
    which time exactly like trained ones; the default 224 px crop of a 256 px resize."""
    from hydra.utils import instantiate

    from fracture.trained.predictor import Predictor, ProbabilityModel

    with initialize_config_dir(version_base="1.3", config_dir=CONF_DIR):
        cfg = compose("train", overrides=[f"model.backbone={backbone}", "model.weights=null"])
    member = instantiate(cfg.model).eval()
    model = ProbabilityModel([member], [1.0]).eval()
    return Predictor(
        model, member.preprocessing, member.decision, [Path("random")], "random weights"
    )


def radiograph_png(side: int) -> bytes:
    pixels = render_radiograph(np.random.default_rng(0), side, fractured=True, subtle_fraction=0)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_healthy(url: str, server, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not server.is_alive():
            raise RuntimeError(f"the server exited with {server.exitcode}")
        try:
            if httpx.get(url + "health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.25)
    raise RuntimeError(f"the server did not answer within {timeout_s:.0f} s")


def drive_load(url: str, pngs: Sequence[bytes], clients: int, seconds: float) -> LoadResult:
    """``clients`` keep-alive clients post the PNGs in turn to ``url``/predict for ``seconds``."""
    result, lock = LoadResult(), threading.Lock()
    uploads = itertools.cycle(pngs)  # shared: together the clients go through every image
    deadline = time.perf_counter() + seconds

    def client() -> None:
        with httpx.Client(timeout=60) as session:
            while time.perf_counter() < deadline:
                with lock:
                    files = {"files": ("radiograph.png", next(uploads), "image/png")}
                start = time.perf_counter()
                status = session.post(url + "predict", files=files).status_code
                elapsed = time.perf_counter() - start
                with lock:
                    if status == 200:
                        result.latencies.append(elapsed)
                    else:
                        result.failures.append(status)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


def _report(args, result: LoadResult) -> None:
    model = args.ckpt or f"{args.backbone} (random weights, 224 px)"
    s = result.summary()
    print(f"model: {model}; {args.clients} clients, {args.cores} cores, {args.image_px} px PNG")
    print(f"settings: {' '.join(args.set) or 'conf/serve.yaml defaults'}")
    print(
        f"{s['requests']} requests in {result.seconds:.1f} s = {s['requests_per_s']:.1f} req/s; "
        f"latency p50 {s['p50_ms']:.0f} ms, p95 {s['p95_ms']:.0f} ms, "
        f"p99 {s['p99_ms']:.0f} ms; {s['failures']} failed {s['failed_statuses']}"
    )


if __name__ == "__main__":
    main()
