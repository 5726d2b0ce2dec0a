"""Train, then test the best checkpoint: ``fracture-train [experiment=frozen|finetune] ...``.

``train(cfg)`` is a plain function that tests call with a composed config; ``main`` is
the thin Hydra wrapper behind the console script.
"""

import logging
import time
import traceback
from functools import partial
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig
from torch.multiprocessing import ProcessRaisedException

from fracture.config import CONF_DIR, register_resolvers
from fracture.config_checks import TRAIN, check_config, check_resume_checkpoint
from fracture.errors import FractureError
from fracture.evaluation.evaluate import evaluate, settings_from_config, validation_metrics
from fracture.evaluation.model_card import model_card
from fracture.evaluation.outputs import write_evaluation
from fracture.evaluation.predictions import predict_samples
from fracture.frozen_random import frozen_random_facts
from fracture.logs import quiet_known_warnings, route_lightning_logs
from fracture.models.decision import Decision
from fracture.rank_failures import collective_timeout
from fracture.resume import latest_checkpoint, resolve_ckpt_path, resumed_config
from fracture.run_files import (
    CONFIG_FILE,
    MODEL_FILE,
    TRACEBACK_FILE,
    clear_failure,
    write_config,
    write_failure,
    write_metrics,
)
from fracture.run_summary import run_summary, sweep_job
from fracture.tensorboard import curated_hparams, final_metrics
from fracture.trained.checkpoints import load_classifier, save_trained_model

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict:
    """Fit the model, test the best checkpoint and write the run directory.

    Args:
        cfg: A config composed from ``conf/train.yaml``.

    Returns:
        The contents of ``metrics.json``: test metrics (``test/acc``, ...) and run facts.
    """
    check_config(cfg, TRAIN)  # before anything is built: a bad value is one line
    run_dir = Path(cfg.paths.output_dir)
    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), run_dir)
    check_resume_checkpoint(ckpt_path)
    resuming_here = ckpt_path is not None and (run_dir / CONFIG_FILE).exists()
    if not resuming_here:  # a run resumed in its own directory keeps the config it started with
        rank_zero_only(write_config)(run_dir, cfg)
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    frozen_random = frozen_random_facts(cfg)
    for warning in frozen_random["warnings"]:
        rank_zero_only(log.warning)(warning)
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model)
    trainer = _build_trainer(cfg)
    started = time.perf_counter()
    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    fit_seconds = time.perf_counter() - started
    epochs, step = _progress(trainer, run_dir)
    metrics = _run_facts(cfg, trainer, run_dir, epochs, fit_seconds)
    # Ranks started by SLURM or torchrun all run this function; only rank 0 evaluates and
    # writes. (With the spawning `ddp` configs only the launching process gets here.)
    if not trainer.is_global_zero:
        return metrics
    datamodule.setup("test")  # a no-op unless the fit ran in spawned processes
    decision = None
    if cfg.get("test", True):
        evaluation, decision = _evaluate_best(cfg, trainer, model, datamodule, run_dir, step)
        metrics.update(evaluation)
    metrics.update(_data_facts(datamodule))
    metrics.update(frozen_random)
    if trainer.fast_dev_run:
        log.info("fast_dev_run: a check of the config, not a result; no metrics.json written")
        return metrics
    if decision and metrics["best_checkpoint"]:
        # The card (the page's model panel) shows the validation numbers at this decision.
        card = model_card(cfg, metrics)
        save_trained_model(
            run_dir / metrics["best_checkpoint"], decision, card, run_dir / MODEL_FILE
        )
        metrics["model"] = MODEL_FILE
    write_metrics(run_dir, metrics)
    clear_failure(run_dir)
    _log_hparams_with_results(trainer, cfg, metrics, step)
    return metrics


def _build_trainer(cfg: DictConfig) -> L.Trainer:
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c]
    if cfg.get("finetune"):
        callbacks.append(instantiate(cfg.finetune))
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c]
    return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)


def _run_facts(
    cfg: DictConfig, trainer: L.Trainer, run_dir: Path, epochs: int, fit_seconds: float
) -> dict:
    checkpoint = trainer.checkpoint_callback
    best = Path(checkpoint.best_model_path) if checkpoint and checkpoint.best_model_path else None
    return {
        "experiment": cfg.get("name"),
        "debug": cfg.get("debug_mode"),  # debug=limit|overfit|...: a check, not a result
        "seed": cfg.get("seed"),
        "epochs": epochs,
        "fit_seconds": round(fit_seconds, 1),
        "best_checkpoint": str(best.relative_to(run_dir)) if best else None,
        "best_val": {
            "monitor": checkpoint.monitor if checkpoint else None,
            "score": _best_score(checkpoint, best),
        },
    }


def _progress(trainer: L.Trainer, run_dir: Path) -> tuple[int, int]:
    """Epochs and optimizer steps of the fit.

    Spawned DDP ranks do not hand their counters back to the launching process; the last
    checkpoint, written at the end of the final epoch, has them.
    """
    if trainer.global_step:
        return trainer.current_epoch, trainer.global_step
    last = latest_checkpoint(run_dir)
    if last is None:
        return trainer.current_epoch, 0
    saved = torch.load(last, map_location="cpu", weights_only=True)
    return saved["epoch"] + 1, saved["global_step"]


def _best_score(checkpoint, best: Path | None) -> float | None:
    if best is None:
        return None
    if checkpoint.best_model_score is not None:
        return float(checkpoint.best_model_score)
    # Spawned DDP ranks hand back the best checkpoint's path but not its score: it is in the
    # checkpoint's saved ModelCheckpoint state.
    states = torch.load(best, map_location="cpu", weights_only=True)["callbacks"].values()
    scores = [s["best_model_score"] for s in states if s.get("best_model_path") == str(best)]
    return float(scores[0]) if scores else None


def _data_facts(datamodule) -> dict:
    """How many images each split used, which files were excluded as unreadable, and the
    copies across splits (``None`` with ``data.on_leakage=ignore``)."""
    samples = getattr(datamodule, "samples", {})
    excluded = getattr(datamodule, "excluded", [])
    return {
        "data/images": {split: len(members) for split, members in samples.items()},
        "data/excluded": len(excluded),
        "data/excluded_files": excluded,
        "data/leakage": getattr(datamodule, "leakage", None),
    }


def _evaluate_best(
    cfg: DictConfig, trainer: L.Trainer, model, datamodule, run_dir: Path, step: int
) -> tuple[dict, Decision | None]:
    """Evaluate the best checkpoint on test, its threshold chosen on val, as fracture-eval does.

    Returns the metrics and the chosen decision, which ``train`` stores with the best
    checkpoint's weights as the run's trained model (``model.ckpt``): predict, export and
    serve load it from the run directory, so they decide as this evaluation did.
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
    stored = (model.decision.threshold, model.decision.temperature)
    settings = settings_from_config(cfg.evaluation)
    validation = predict(datamodule.samples["val"])
    evaluation = evaluate(predict(datamodule.samples["test"]), validation, settings, stored)
    writer = next(
        (lg.experiment for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None
    )
    metrics = write_evaluation(run_dir, evaluation, writer, step, f"{cfg.name} ({run_dir.name})")
    decision = Decision(
        evaluation.threshold,
        evaluation.temperature,
        model.decision.class_names,
        chosen_by=f"{settings.policy} on val",
    )
    return {**metrics, **validation_metrics(validation, evaluation)}, decision


def _log_hparams_with_results(trainer: L.Trainer, cfg: DictConfig, metrics: dict, step: int):
    # One hparams record per run, with its final metrics at the last step: TensorBoard's
    # HPARAMS tab then compares runs of a sweep on the settings that tell them apart.
    hparams = curated_hparams(cfg)
    results = final_metrics(metrics)
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(hparams, metrics=results, step=step)
        else:  # MLflow, W&B, CSV: the run's final numbers as metrics of its last step
            logger.log_hyperparams(hparams)
            logger.log_metrics(results, step=step)
        logger.save()
        logger.finalize("success")
        if isinstance(logger, WandbLogger):
            # Lightning leaves the W&B run open; a second train() in this process (a notebook,
            # the tests) would otherwise log into it.
            logger.experiment.finish()


def main() -> float | None:
    """Console entry point ``fracture-train``; configuration errors end as one line.

    In a multirun, a failing job is recorded in its run directory (``error.json``,
    ``error.txt``) and the sweep goes on; a single run fails with the error.
    """
    register_resolvers()  # the run-directory names of conf/hydra/default.yaml
    return _main()


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def _main(cfg: DictConfig) -> float | None:
    """The Hydra job: resume if asked, train, and record a failure."""
    route_lightning_logs()
    quiet_known_warnings()
    if cfg.get("resume"):
        cfg = _resumed(cfg)
    try:
        metrics = train(cfg)
    except Exception as error:  # not BaseException: SIGTERM / Ctrl-C must stop the job
        return _failed(cfg, _root_cause(error))
    if rank_zero_only.rank == 0:
        log.info(run_summary(metrics, Path(cfg.paths.output_dir), sweep_job()))
    # Hydra sweepers (e.g. Optuna) optimise the value returned here.
    return _optimized_value(cfg, metrics)


def _resumed(cfg: DictConfig) -> DictConfig:
    overrides = [o for o in HydraConfig.get().overrides.task if not o.startswith("resume=")]
    try:
        return resumed_config(cfg.resume, overrides)
    except FractureError as error:
        raise SystemExit(f"fracture-train: error: {error}") from None


def _root_cause(error: Exception) -> Exception:
    # Errors raised while Hydra instantiates an object arrive wrapped, with the config path
    # added; the user needs the original one-line message.
    while isinstance(error, InstantiationException) and isinstance(error.__cause__, Exception):
        error = error.__cause__
    if isinstance(error, ProcessRaisedException):
        return _spawned_rank_error(error)
    # A rank started by SLURM or torchrun raises its own errors.
    return collective_timeout(error, rank_zero_only.rank) or error


def _spawned_rank_error(error: ProcessRaisedException) -> Exception:
    # A spawned DDP rank's exception reaches this process as the text of its traceback,
    # whose last line is "<module>.<Type>: <message>".
    name, _, message = str(error).strip().splitlines()[-1].partition(": ")
    if name.startswith("fracture.errors."):
        return FractureError(message)
    return collective_timeout(error, error.error_index) or error


def _failed(cfg: DictConfig, error: Exception) -> None:
    if rank_zero_only.rank != 0:
        # A rank started by SLURM or torchrun: let it die, so that the launcher stops the
        # other ranks instead of leaving rank 0 waiting in a collective.
        raise error
    run_dir = Path(cfg.paths.output_dir)
    trace = traceback.format_exc()
    write_failure(run_dir, error, trace)
    logged_in = _log_to_files("run failed:\n%s", trace) or [run_dir / TRACEBACK_FILE]
    if HydraConfig.get().mode != RunMode.MULTIRUN:
        if HydraConfig.get().verbose:
            raise error
        # SystemExit passes through Hydra's error reporting, which would add a traceback.
        raise SystemExit(f"fracture-train: error: {_one_line(error, logged_in[0])}") from None
    log.error("job failed, the sweep goes on: %s (traceback in %s)", error, run_dir / "error.txt")
    # None: the Optuna sweeper records a failed trial and goes on (it refuses NaN).
    return None


def _log_to_files(message: str, *args) -> list[Path]:
    # The run's log file (Hydra's job logging writes train.log) gets the traceback; the
    # console gets one line.
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, message, args, None)
    files = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
    for handler in files:
        handler.handle(record)
    return [Path(handler.baseFilename) for handler in files]


def _one_line(error: Exception, log_file: Path) -> str:
    if isinstance(error, FractureError):
        return str(error)  # already says what to fix
    first_line = (str(error).strip().splitlines() or [""])[0]
    return (
        f"{type(error).__name__}: {first_line} (traceback in {log_file}; "
        "hydra.verbose=true prints it here)"
    )


def _optimized_value(cfg: DictConfig, metrics: dict) -> float | None:
    name = cfg.get("optimized_metric")
    if name and name not in metrics:
        log.warning("optimized_metric=%s is not among the run's metrics", name)
    return metrics.get(name)


if __name__ == "__main__":
    main()
