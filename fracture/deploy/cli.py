"""``fracture-export ckpt=<checkpoint | run dir | ensemble.json | [a,b]> [format=torchscript]
[quantize=int8]``: a verified ONNX (default) or TorchScript model, or a gated int8 ONNX model,
and its ``model.json`` sidecar, in one directory."""

from pathlib import Path

import hydra
from omegaconf import DictConfig, ListConfig, OmegaConf

from fracture.config import CONF_DIR
from fracture.config_checks import EXPORT, check_config
from fracture.deploy.int8_export import Int8Settings, export_int8
from fracture.errors import ConfigError, FractureError
from fracture.inference.export import FORMATS, SIDECAR, export
from fracture.trained.predictor import load_predictor

QUANTIZE = (None, "int8")


def export_checkpoint(cfg: DictConfig) -> dict:
    """Export ``cfg.ckpt`` as ``cfg.format`` into ``cfg.out``; returns the sidecar."""
    # Checked before loading any weights, so a typo fails at once.
    check_config(cfg, EXPORT)
    if cfg.format not in FORMATS:
        raise ConfigError(f"format={cfg.format!r} is not one of {', '.join(FORMATS)}")
    if cfg.quantize not in QUANTIZE:
        raise ConfigError(f"quantize={cfg.quantize!r} is not one of null, int8")
    if cfg.quantize and cfg.format != "onnx":
        raise ConfigError(f"quantize=int8 needs format=onnx, not format={cfg.format}")
    spec = OmegaConf.to_container(cfg.ckpt) if isinstance(cfg.ckpt, ListConfig) else str(cfg.ckpt)
    predictor = load_predictor(spec)
    if not cfg.quantize:
        return export(predictor, Path(cfg.out), cfg.format, cfg.opset)
    settings = Int8Settings(cfg.calibration_images, cfg.quantize_tolerance, cfg.quantize_agreement)
    return export_int8(predictor, Path(cfg.out), cfg.opset, settings)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="export")
def main(cfg: DictConfig) -> None:
    """Console entry point ``fracture-export``; bad paths and values end as one line."""
    try:
        record = export_checkpoint(cfg)
    except FractureError as error:
        raise SystemExit(f"fracture-export: error: {error}") from None
    out_dir = Path(cfg.out)
    size_mb = (out_dir / record["file"]).stat().st_size / 1e6
    opset = f", opset {record['opset']}" if record["opset"] else ""
    print(f"wrote {record['file']} ({size_mb:.1f} MB, {record['exporter']}{opset}) and {SIDECAR}")
    print(
        f"verified: max |difference| {record['verification']['max_abs_difference']:.2g} "
        f"at batch sizes {record['verification']['batch_sizes']} (tolerance "
        f"{record['verification']['tolerance']:g}); threshold {record['threshold']:.3f}"
    )
    if "quantization" in record:
        q = record["quantization"]
        print(
            f"int8 ({q['calibration_images']} calibration images): validation AUROC "
            f"{q['auroc_fp32']:.4f} fp32 vs {q['auroc_int8']:.4f} int8 (tolerance "
            f"{q['tolerance']:g}), decisions agree on {q['agreement']:.1%} of "
            f"{q['validation_images']} images"
        )
    print(f"in {out_dir}")


if __name__ == "__main__":
    main()
