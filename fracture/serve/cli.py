"""``fracture-serve ckpt=<checkpoint | run dir | ensemble.json | [a,b]> [host=...] [port=...]``:
the web page and JSON API of one model, under uvicorn."""

from functools import partial

import hydra
import uvicorn
from fastapi import FastAPI
from omegaconf import DictConfig, OmegaConf

from fracture.config import CONF_DIR
from fracture.config_checks import SERVE, check_config
from fracture.errors import FractureError
from fracture.inference.runtime import load_model
from fracture.serve.app import create_app
from fracture.serve.protocol import HeaderTimeoutProtocol
from fracture.serve.settings import ServeSettings

# On SIGTERM or Ctrl-C, requests in progress get this long to finish; then they are cancelled
# and the decoding processes killed, so a stuck request cannot keep the server alive.
SHUTDOWN_GRACE_S = 3


def build_app(cfg: DictConfig) -> FastAPI:
    """The application of ``cfg``: its settings checked first, then the model loaded once."""
    check_config(cfg, SERVE)
    settings = ServeSettings.from_config(cfg)
    ckpt = OmegaConf.to_container(cfg.ckpt) if OmegaConf.is_list(cfg.ckpt) else str(cfg.ckpt)
    return create_app(load_model(ckpt, settings.backend), settings)


def uvicorn_config(app: FastAPI, cfg: DictConfig) -> uvicorn.Config:
    """How uvicorn serves ``app``: address, proxy trust, and the timeouts of slow clients."""
    settings = app.state.runner.settings
    return uvicorn.Config(
        app,
        host=cfg.host,
        port=cfg.port,
        root_path=cfg.root_path,
        proxy_headers=True,
        forwarded_allow_ips=cfg.forwarded_allow_ips,
        log_level=cfg.log_level,
        # No limit_concurrency: UploadAdmission limits uploads (JSON 503), not the page.
        http=partial(HeaderTimeoutProtocol, header_timeout_s=settings.header_timeout_s),
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="serve")
def main(cfg: DictConfig) -> None:
    """Console entry point ``fracture-serve``; bad paths and values end as one line."""
    try:
        app = build_app(cfg)
    except FractureError as error:
        raise SystemExit(f"fracture-serve: error: {error}") from None
    runner = app.state.runner
    print(f"fracture-serve: {runner.name} on {runner.device}, sha256 {runner.predictor.digest}")
    uvicorn.Server(uvicorn_config(app, cfg)).run()


if __name__ == "__main__":
    main()
