"""``fracture-eval ckpt=<ckpt | run dir | ensemble.json | [a,b,...]> [data=...] [split=...]``:
evaluate any checkpoint or ensemble on any split of any dataset, with the preprocessing
stored in the checkpoint. For an ensemble given as a list, the threshold chosen by the policy
is written to ``ensemble.json``, which predict and export then take as ``ckpt``."""

from pathlib import Path

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.utils.tensorboard import SummaryWriter

from fracture.config import CONF_DIR
from fracture.config_checks import EVAL, check_config
from fracture.data.samples import SPLITS
from fracture.errors import ConfigError, DataError, FractureError
from fracture.evaluation.evaluate import STORED, evaluate, settings_from_config
from fracture.evaluation.outputs import write_evaluation
from fracture.evaluation.predictions import predict_samples
from fracture.evaluation.summary import metrics_summary
from fracture.run_files import CONFIG_FILE, write_metrics
from fracture.trained.predictor import EnsembleLogits, Predictor, load_predictor, write_ensemble


def evaluate_checkpoint(cfg: DictConfig, out_dir: Path) -> dict:
    """Evaluate ``cfg.ckpt`` on ``cfg.split``; writes the results into ``out_dir``."""
    check_config(cfg, EVAL)
    if cfg.split not in SPLITS:
        raise ConfigError(f"split={cfg.split!r} is not one of {', '.join(SPLITS)}")
    spec = OmegaConf.to_container(cfg.ckpt) if OmegaConf.is_list(cfg.ckpt) else cfg.ckpt
    predictor = load_predictor(spec)
    model, stored = _scoring_model(predictor)
    datamodule = instantiate(data_config(cfg, predictor.sources[0]))
    datamodule.prepare_data()
    datamodule.setup("test")
    settings = settings_from_config(cfg.evaluation)
    if predictor.is_ensemble and settings.temperature_scaling:
        raise ConfigError(
            "temperature scaling of an ensemble is not stored anywhere predict could use it; "
            "calibrate the members (evaluation.temperature_scaling=true when training them)"
        )
    predict = _predictor(model, datamodule, cfg.device)
    needs_val = settings.policy != STORED or settings.temperature_scaling
    validation = predict(datamodule.samples["val"]) if needs_val else None
    evaluated = predict(datamodule.samples[cfg.split])
    result = evaluate(evaluated, validation, settings, stored, cfg.split)
    with SummaryWriter(str(out_dir)) as writer:
        metrics = write_evaluation(out_dir, result, writer, run=_run_name(predictor))
    metrics = {**_sources(predictor, result.threshold, settings.policy, out_dir), **metrics}
    metrics = {"split": cfg.split, **metrics, **_excluded(datamodule)}
    write_metrics(out_dir, metrics)
    return metrics


def _run_name(predictor: Predictor) -> str:
    """The figures' title: the evaluated checkpoint's run directory (or the ensemble's size)."""
    if predictor.is_ensemble:
        return f"ensemble of {len(predictor.sources)}"
    checkpoint = Path(predictor.sources[0])
    return (
        checkpoint.parent.parent.name
        if checkpoint.parent.name == "checkpoints"
        else checkpoint.stem
    )


def _sources(predictor: Predictor, threshold: float, policy: str, out_dir: Path) -> dict:
    """The evaluated checkpoint(s); an ensemble's threshold goes to ``ensemble.json``."""
    sources = [str(source) for source in predictor.sources]
    if not predictor.is_ensemble:
        return {"checkpoint": sources[0]}
    ensemble = write_ensemble(
        out_dir / "ensemble.json", predictor.with_threshold(threshold), policy
    )
    return {"checkpoint": sources, "ensemble": str(ensemble)}


def _scoring_model(predictor: Predictor):
    """The module whose logits are evaluated, and the (threshold, temperature) it carries.

    A single model is scored on its own logits, so ``fracture-eval`` reproduces training's
    evaluation exactly; an ensemble on the log of its mean probability (members apply their
    own temperatures).
    """
    if not predictor.is_ensemble:
        member = predictor.model.members[0]
        return member, (member.decision.threshold, member.decision.temperature)
    return EnsembleLogits(predictor.model, predictor.preprocessing), (predictor.threshold, 1.0)


def data_config(cfg: DictConfig, checkpoint: Path) -> DictConfig:
    """The ``data=`` given on the command line, else the one the checkpoint was trained on."""
    if cfg.get("data"):
        return cfg.data
    for run_dir in checkpoint.parents[:2]:
        if (run_dir / CONFIG_FILE).is_file():
            return OmegaConf.load(run_dir / CONFIG_FILE).data
    raise DataError(
        f"no {CONFIG_FILE} of a run beside {checkpoint}; name the data: data=folder data.root=<dir>"
    )


def _predictor(model, datamodule, device: str):
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"

    def predict(samples):
        return predict_samples(
            model,
            samples,
            datamodule.batch_size,
            datamodule.num_workers,
            device,
            datamodule.max_pixels,
        )

    return predict


def _excluded(datamodule) -> dict:
    return {"data/excluded": len(datamodule.excluded), "data/excluded_files": datamodule.excluded}


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="eval")
def main(cfg: DictConfig) -> None:
    """Console entry point ``fracture-eval``; bad paths and values end as one line."""
    out_dir = Path(cfg.paths.output_dir)
    try:
        metrics = evaluate_checkpoint(cfg, out_dir)
    except FractureError as error:
        raise SystemExit(f"fracture-eval: error: {error}") from None
    print(metrics_summary(metrics, cfg.split))
    print(f"wrote metrics.json, predictions.csv and figures to {out_dir}")


if __name__ == "__main__":
    main()
