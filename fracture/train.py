"""Train, then test the best checkpoint: ``fracture-train [experiment=frozen|finetune] ...``.

``train(cfg)`` is a plain function that tests call with a composed config; ``main`` is
the thin Hydra wrapper behind the console script.
"""

import time
from functools import partial
from pathlib import Path

import hydra
import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

from fracture.errors import FractureError
from fracture.evaluation.checkpoints import load_classifier, store_decision
from fracture.evaluation.evaluate import evaluate, settings_from_config
from fracture.evaluation.outputs import write_evaluation
from fracture.evaluation.predictions import predict_samples
from fracture.run_files import write_config, write_metrics


def train(cfg: DictConfig) -> dict:
    """Fit the model, test the best checkpoint and write the run directory.

    Args:
        cfg: A config composed from ``conf/train.yaml``.

    Returns:
        The contents of ``metrics.json``: test metrics (``test/acc``, ...) and run facts.
    """
    run_dir = Path(cfg.paths.output_dir)
    write_config(run_dir, cfg)
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model)
    trainer = _build_trainer(cfg)
    started = time.perf_counter()
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics = _run_facts(cfg, trainer, run_dir, fit_seconds=time.perf_counter() - started)
    if cfg.get("test", True) and trainer.is_global_zero:
        metrics.update(_evaluate_best(cfg, trainer, model, datamodule, run_dir))
    metrics.update(_data_facts(datamodule))
    if trainer.is_global_zero:
        write_metrics(run_dir, metrics)
        _log_hparams_with_results(trainer, cfg, metrics)
    return metrics


def _build_trainer(cfg: DictConfig) -> L.Trainer:
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c]
    if cfg.get("finetune"):
        callbacks.append(instantiate(cfg.finetune))
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c]
    return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)


def _run_facts(cfg: DictConfig, trainer: L.Trainer, run_dir: Path, fit_seconds: float) -> dict:
    checkpoint = trainer.checkpoint_callback
    best = Path(checkpoint.best_model_path) if checkpoint and checkpoint.best_model_path else None
    return {
        "experiment": cfg.get("name"),
        "seed": cfg.get("seed"),
        "epochs": trainer.current_epoch,
        "fit_seconds": round(fit_seconds, 1),
        "best_checkpoint": str(best.relative_to(run_dir)) if best else None,
        "best_val": {
            "monitor": checkpoint.monitor if checkpoint else None,
            "score": float(checkpoint.best_model_score) if best else None,
        },
    }


def _data_facts(datamodule) -> dict:
    """How many images each split used and which files were excluded as unreadable."""
    samples = getattr(datamodule, "samples", {})
    excluded = getattr(datamodule, "excluded", [])
    return {
        "data/images": {split: len(members) for split, members in samples.items()},
        "data/excluded": len(excluded),
        "data/excluded_files": excluded,
    }


def _evaluate_best(cfg: DictConfig, trainer: L.Trainer, model, datamodule, run_dir: Path) -> dict:
    """Evaluate the best checkpoint on test, its threshold chosen on val, as fracture-eval does.

    The chosen threshold (and temperature) are written into the best checkpoint, so predict,
    export and serve decide as this evaluation did.
    """
    checkpoint = trainer.checkpoint_callback  # None with trainer.enable_checkpointing=false
    best = (checkpoint.best_model_path or None) if checkpoint else None
    model = load_classifier(best) if best else model
    predict = partial(
        predict_samples,
        model,
        batch_size=datamodule.batch_size,
        num_workers=datamodule.num_workers,
        device=trainer.strategy.root_device,
        max_pixels=datamodule.max_pixels,
    )
    stored = (model.preprocessing.threshold, model.preprocessing.temperature)
    settings = settings_from_config(cfg.evaluation)
    evaluation = evaluate(
        predict(datamodule.samples["test"]), predict(datamodule.samples["val"]), settings, stored
    )
    if best:
        store_decision(best, evaluation.threshold, evaluation.temperature)
    writer = next(
        (lg.experiment for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None
    )
    return write_evaluation(run_dir, evaluation, writer, trainer.global_step)


def _log_hparams_with_results(trainer: L.Trainer, cfg: DictConfig, metrics: dict) -> None:
    # One hparams record per run, with its final metrics: TensorBoard's HPARAMS tab then
    # compares runs of a sweep without a placeholder hp_metric.
    params = OmegaConf.to_container(cfg, resolve=True)
    hparams = {key: params[key] for key in ("name", "seed", "data", "model", "finetune", "trainer")}
    results = {k: v for k, v in metrics.items() if k.startswith("test/") and isinstance(v, float)}
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(hparams, metrics=results)
        else:
            logger.log_hyperparams(hparams)
        logger.save()


def _run_dirname(overrides: str, job_num: int) -> str:
    # Multirun subdirectories named by their overrides ("experiment=frozen,seed=1"), so
    # TensorBoard lists runs by what differs; '/' in a value would nest directories.
    return overrides.replace("/", "_") if overrides else f"job{job_num}"


OmegaConf.register_new_resolver("run_dirname", _run_dirname, replace=True)


# conf/ sits beside the package in the repository (an editable install). An absolute path,
# because Hydra reads a relative one as a Python package when started from a console script.
CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Console entry point ``fracture-train``; configuration errors end as one line."""
    try:
        metrics = train(cfg)
    except FractureError as error:
        # SystemExit passes through Hydra's error reporting, which would add a traceback.
        raise SystemExit(f"fracture-train: error: {error}") from None
    # Hydra sweepers (e.g. Optuna) optimise the value returned here.
    return metrics.get(cfg.get("optimized_metric"))


if __name__ == "__main__":
    main()
