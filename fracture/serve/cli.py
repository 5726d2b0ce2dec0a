"""``fracture-serve ckpt=<checkpoint | run dir | ensemble.json | [a,b]> [host=...] [port=...]``:
the web page and JSON API of one model, under uvicorn."""

import hydra
import uvicorn
from fastapi import FastAPI
from omegaconf import DictConfig, OmegaConf

from fracture.config_checks import SERVE, check_config
from fracture.errors import FractureError
from fracture.inference.predictor import load_predictor
from fracture.serve.app import create_app
from fracture.serve.settings import ServeSettings
from fracture.train import CONF_DIR


def build_app(cfg: DictConfig) -> FastAPI:
    """The application of ``cfg``: its settings checked first, then the model loaded once."""
    check_config(cfg, SERVE)
    settings = ServeSettings.from_config(cfg)
    ckpt = OmegaConf.to_container(cfg.ckpt) if OmegaConf.is_list(cfg.ckpt) else str(cfg.ckpt)
    return create_app(load_predictor(ckpt), settings)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="serve")
def main(cfg: DictConfig) -> None:
    """Console entry point ``fracture-serve``; bad paths and values end as one line."""
    try:
        app = build_app(cfg)
    except FractureError as error:
        raise SystemExit(f"fracture-serve: error: {error}") from None
    runner = app.state.runner
    print(f"fracture-serve: {runner.name} on {runner.device}, sha256 {runner.predictor.digest}")
    uvicorn.run(
        app,
        host=cfg.host,
        port=cfg.port,
        root_path=cfg.root_path,
        proxy_headers=True,
        forwarded_allow_ips=cfg.forwarded_allow_ips,
        log_level=cfg.log_level,
        # Requests beyond the inference queue (plus a few for the page and health checks)
        # get a 503 before their uploads are read into memory.
        limit_concurrency=runner.settings.threads + runner.settings.queue_size + 8,
    )


if __name__ == "__main__":
    main()
