"""Load benchmark of fracture-serve: requests/s and p50/p95 latency of single-image predictions.

    .venv/bin/python scripts/benchmark_serve.py --ckpt <run dir | .ckpt> [--clients 4]
    .venv/bin/python scripts/benchmark_serve.py --backbone resnet50  # random weights, 224 px

Starts the real application under uvicorn in a child process on a free loopback port, with
``conf/serve.yaml``'s settings (``--set threads=2`` overrides them); server and clients are
pinned to the first ``--cores`` CPUs. ``--clients`` threads then send one synthetic
radiograph PNG per request over keep-alive connections for ``--seconds`` after a warm-up, and
the script prints requests/s and latency percentiles as the clients saw them. Results are
recorded in README.md.
"""

import argparse
import io
import multiprocessing
import os
import socket
import statistics
import threading
import time
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
    port, png = _free_port(), _radiograph_png(args.image_px)
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(args, port))
    server.start()
    try:
        url = f"http://127.0.0.1:{port}/api/v1/"
        _wait_until_healthy(url, server)
        _load(url, png, args.clients, args.warmup)
        latencies, failures, seconds = _load(url, png, args.clients, args.seconds)
    finally:
        server.terminate()
        server.join()
    _report(args, latencies, failures, seconds)


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


def _serve(args: argparse.Namespace, port: int) -> None:
    import uvicorn

    import fracture.serve.app as serve_app
    from fracture.serve import ServeSettings, create_app

    with initialize_config_dir(version_base="1.3", config_dir=CONF_DIR):
        cfg = compose("serve", overrides=["ckpt=unused", *args.set])
    if args.backbone:  # random weights come from no checkpoint file, so with no model card
        serve_app.stored_card = lambda predictor: None
    app = create_app(_predictor(args), ServeSettings.from_config(cfg))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _predictor(args: argparse.Namespace):
    from hydra.utils import instantiate

    from fracture.trained.predictor import Predictor, ProbabilityModel, load_predictor

    if args.ckpt:
        return load_predictor(args.ckpt)
    # Built as conf/model/ builds it (channels-last), with random weights, which time exactly
    # like trained ones; the preprocessing is the default 224 px crop of a 256 px resize.
    with initialize_config_dir(version_base="1.3", config_dir=CONF_DIR):
        cfg = compose("train", overrides=[f"model.backbone={args.backbone}", "model.weights=null"])
    member = instantiate(cfg.model).eval()
    model = ProbabilityModel([member], [1.0]).eval()
    return Predictor(
        model, member.preprocessing, member.decision, [Path("random")], "random weights"
    )


def _radiograph_png(side: int) -> bytes:
    pixels = render_radiograph(np.random.default_rng(0), side, fractured=True, subtle_fraction=0)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_healthy(url: str, server, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not server.is_alive():
            raise SystemExit(f"the server exited with {server.exitcode}")
        try:
            if httpx.get(url + "health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.25)
    raise SystemExit(f"the server did not answer within {timeout_s:.0f} s")


def _load(url: str, png: bytes, clients: int, seconds: float):
    """Latencies (s) of successful requests, failed status codes, and the elapsed time."""
    latencies, failures, lock = [], [], threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        with httpx.Client(timeout=60) as session:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                files = {"files": ("radiograph.png", png, "image/png")}
                status = session.post(url + "predict", files=files).status_code
                elapsed = time.perf_counter() - start
                with lock:
                    if status == 200:
                        latencies.append(elapsed)
                    else:
                        failures.append(status)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, failures, time.perf_counter() - started


def _report(args, latencies: list[float], failures: list[int], seconds: float) -> None:
    model = args.ckpt or f"{args.backbone} (random weights, 224 px)"
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    print(f"model: {model}; {args.clients} clients, {args.cores} cores, {args.image_px} px PNG")
    print(f"settings: {' '.join(args.set) or 'conf/serve.yaml defaults'}")
    print(
        f"{len(latencies)} requests in {seconds:.1f} s = {len(latencies) / seconds:.1f} req/s; "
        f"latency p50 {cuts[49] * 1000:.0f} ms, p95 {cuts[94] * 1000:.0f} ms, "
        f"p99 {cuts[98] * 1000:.0f} ms; {len(failures)} failed {sorted(set(failures))}"
    )


if __name__ == "__main__":
    main()
