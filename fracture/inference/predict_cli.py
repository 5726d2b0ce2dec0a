"""``fracture-predict ckpt=... inputs=...``: predictions.csv (and overlays) for new images.

Everything is written inside the run's output directory (``hydra.run.dir``), under fixed or
sanitised names: an input's path never decides where a file is written.
"""

from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from fracture.config import CONF_DIR
from fracture.config_checks import PREDICT, check_config
from fracture.errors import ConfigError, FractureError
from fracture.inference.inputs import expand_inputs
from fracture.inference.overlays import write_overlays
from fracture.inference.predict import predict_paths, summary_line, write_predictions_csv
from fracture.inference.runtime import EXPLAIN_NEEDS_TORCH, check_backend, load_model, make_backend
from fracture.run_files import PREDICTIONS_FILE


def run_prediction(cfg: DictConfig, out_dir: Path) -> str:
    """Predict ``cfg.inputs`` with ``cfg.ckpt``; returns the summary line."""
    check_config(cfg, PREDICT)
    check_backend(cfg.backend, cfg.device)
    if cfg.explain and cfg.backend == "onnx":
        raise ConfigError(f"explain=true: {EXPLAIN_NEEDS_TORCH}; use backend=torch")
    ckpt = OmegaConf.to_container(cfg.ckpt) if OmegaConf.is_list(cfg.ckpt) else cfg.ckpt
    inputs = OmegaConf.to_container(cfg.inputs) if OmegaConf.is_list(cfg.inputs) else cfg.inputs
    predictor = load_model(ckpt, cfg.backend)
    paths = expand_inputs(inputs, cfg.follow_symlinks)
    device = (
        ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    )
    backend = make_backend(predictor, cfg.backend, device, cfg.tta)
    results = predict_paths(
        predictor,
        paths,
        cfg.batch_size,
        cfg.tta,
        device,
        cfg.num_workers,
        cfg.max_pixels,
        decode_timeout_s=cfg.decode_timeout_s,
        backend=backend,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.explain:  # first: the CSV then lists each overlay
        write_overlays(
            predictor, results, out_dir / "overlays", cfg.explain_method, device, cfg.max_pixels
        )
    write_predictions_csv(out_dir / PREDICTIONS_FILE, results, predictor)
    return f"{summary_line(results, predictor)} -> {out_dir / PREDICTIONS_FILE}"


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="predict")
def main(cfg: DictConfig) -> None:
    """Console entry point ``fracture-predict``; bad paths and values end as one line."""
    try:
        print(run_prediction(cfg, Path(cfg.paths.output_dir)))
    except FractureError as error:
        raise SystemExit(f"fracture-predict: error: {error}") from None


if __name__ == "__main__":
    main()
