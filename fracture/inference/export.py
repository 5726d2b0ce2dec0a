"""A ``Predictor`` as one file other runtimes can load, and a JSON sidecar to use it with.

The exported model takes already preprocessed images ``images`` (N, 3, S, S) float32 and
returns ``probability`` (N,) of *fractured*, the mean over the members, any N; an ONNX model
also returns each member's, ``members`` (N, M), so an ensemble served through ONNX Runtime
reports its members as PyTorch does. ``model.json`` beside it holds what
preprocessing and deciding need (sizes, normalisation, class names, threshold) and where the
weights came from (member checkpoints, the predictor's digest).

ONNX goes through the dynamo exporter (``torch.export`` + onnxscript): it exports the
torchvision ResNets (18 and 50, channels_last included) with parity well below 1e-6, so the
TorchScript-based exporter is only a fallback for backbones that dynamo cannot trace.
TorchScript is written by ``torch.jit.trace`` (deprecated in torch 2.x, still what C++ and
older runtimes load).

Nothing is reported as exported before it is verified: the file is written under a temporary
name, run on seeded random inputs at two batch sizes and compared with PyTorch, and only then
renamed to its fixed name in the output directory.
"""

import json
import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.core.module import _jit_is_scripting
from torch import nn

from fracture import __version__
from fracture.errors import ConfigError, ExportError
from fracture.labels import FRACTURED
from fracture.trained.onnx_backend import INPUT_NAME, MEMBERS_NAME, OUTPUT_NAME
from fracture.trained.predictor import MeanProbability, Predictor

log = logging.getLogger(__name__)

FORMATS = {"onnx": "model.onnx", "torchscript": "model.pt"}
SIDECAR = "model.json"
SIDECAR_FORMAT = 1
DEFAULT_OPSET = 20  # torch's default for the dynamo exporter; onnxruntime >= 1.17 runs it
TOLERANCE = 1e-4
VERIFY_BATCH_SIZES = (1, 3)  # two sizes: a batch size frozen into the graph would fail one
VERIFY_SEED = 0
# How an image file becomes the model input, for each data.fit (model.json "preprocessing").
_FIT_RECIPES = {
    "crop": "resize the shortest side to resize_size (bilinear, antialiased; the other side "
    "int(resize_size * long / short)) -> centre crop image_size x image_size (offsets "
    "round((side - image_size) / 2))",
    "pad": "resize the longest side to image_size (bilinear, antialiased; the other side "
    "max(1, image_size * short // long)) -> pad with black (0) to image_size x image_size, "
    "the odd pixel on the left/top (offsets (side - image_size) // 2, negative)",
    "resize": "resize to image_size x image_size (bilinear, antialiased; the aspect ratio "
    "is not kept)",
}


def recipe(fit: str) -> str:
    """The preprocessing of ``data.fit=fit`` in words, from the file to the model input."""
    return (
        f"decode to 8-bit grayscale (PIL mode L) -> {_FIT_RECIPES[fit]} -> divide by 255 "
        "-> repeat to 3 channels -> (x - mean) / std per channel -> float32 (N, 3, S, S)"
    )


def export(
    predictor: Predictor, out_dir: str | Path, format: str = "onnx", opset: int = DEFAULT_OPSET
) -> dict:
    """Write ``model.onnx`` or ``model.pt`` and ``model.json`` into ``out_dir``, verified.

    Args:
        predictor: The model (one checkpoint or an ensemble) with its preprocessing.
        out_dir: The only directory written to; created if missing. It must not hold an
            earlier export, so a sidecar never describes another file.
        format: ``"onnx"`` or ``"torchscript"``.
        opset: ONNX opset version (ignored for TorchScript).

    Returns:
        The sidecar's contents, including the verified maximum absolute difference.

    Raises:
        ConfigError: Unknown ``format``.
        ExportError: ``out_dir`` already holds an export, the exporter failed, or the
            exported model differs from PyTorch by more than ``TOLERANCE``; no model file
            is left behind.
    """
    out_dir = Path(out_dir)
    target = _target(out_dir, format)
    module = MeanProbability(predictor.model).cpu().eval()
    size = predictor.preprocessing.image_size
    partial = out_dir / f".{target.name}.partial"
    try:
        written = _WithMembers(predictor.model).eval() if format == "onnx" else module
        exporter = _write(written, partial, format, size, opset)
        difference = verify(partial, format, module, size)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    record = _sidecar(predictor, format, exporter, opset, difference)
    write_sidecar(out_dir, record)
    return record


def verify(path: Path, format: str, module: nn.Module, image_size: int) -> float:
    """Max |exported - PyTorch| over seeded random inputs at every ``VERIFY_BATCH_SIZES``.

    Raises:
        ExportError: A wrong output shape, or a difference above ``TOLERANCE`` (or NaN).
    """
    run = _load_exported(path, format)
    generator = torch.Generator().manual_seed(VERIFY_SEED)
    worst = 0.0
    for batch in VERIFY_BATCH_SIZES:
        images = torch.randn(batch, 3, image_size, image_size, generator=generator)
        expected, got = _reference(module, images), run(images)
        if got.shape != expected.shape:
            raise ExportError(
                f"exported {format} model returned shape {got.shape}, not {expected.shape}"
            )
        difference = float(np.abs(got.astype(np.float64) - expected).max())
        if not difference <= TOLERANCE:
            raise ExportError(
                f"exported {format} model differs from PyTorch by {difference:.3g} "
                f"(> {TOLERANCE:g}) at batch size {batch}; nothing was written"
            )
        worst = max(worst, difference)
    return worst


class _WithMembers(nn.Module):
    """``probability`` (N,) and ``members`` (N, M): the ONNX model's two outputs."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        members = self.model(images)
        return members.mean(dim=1), members


def _target(out_dir: Path, format: str) -> Path:
    if format not in FORMATS:
        raise ConfigError(f"format={format!r} is not one of {', '.join(FORMATS)}")
    refuse_earlier_export(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir / FORMATS[format]


def refuse_earlier_export(out_dir: Path) -> None:
    """An export directory holds one export: a sidecar must never describe another file."""
    taken = [name for name in (*FORMATS.values(), SIDECAR) if (out_dir / name).exists()]
    if taken:
        raise ExportError(
            f"{out_dir} already holds {', '.join(taken)}; export into a new directory (out=...)"
        )


def _reference(module: nn.Module, images: torch.Tensor) -> np.ndarray:
    """What PyTorch says: the truth the exported model is checked against."""
    with torch.no_grad():
        return module(images).double().numpy()


def _write(module: nn.Module, path: Path, format: str, size: int, opset: int) -> str:
    """Export to ``path``; returns the exporter used."""
    # Batch 2: torch.export specialises dimensions of size 0 and 1 to constants.
    example = torch.randn(2, 3, size, size)
    if format == "torchscript":
        _checked(_trace, module, example, path)
        return "torch.jit.trace"
    try:
        _onnx_dynamo(module, example, path, opset)
        return "dynamo"
    except Exception as error:
        log.warning("dynamo ONNX exporter failed (%s); trying the TorchScript-based one", error)
        path.unlink(missing_ok=True)
    _checked(_onnx_torchscript, module, example, path, opset)
    return "torchscript"


def _checked(write: Callable, *args) -> None:
    """Exporter failures as one line naming the exporter, for the command line."""
    try:
        write(*args)
    except Exception as error:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ExportError(f"{write.__name__.lstrip('_')} export failed: {first_line}") from error


def _onnx_dynamo(module: nn.Module, example: torch.Tensor, path: Path, opset: int) -> None:
    with _quiet_loggers("onnxscript", "onnx_ir"):
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME, MEMBERS_NAME],
            opset_version=opset,
            dynamo=True,
            dynamic_shapes={INPUT_NAME: {0: torch.export.Dim("batch")}},
            # One self-contained file: external data would be named after the temporary file.
            external_data=False,
            verbose=False,
        )


def _onnx_torchscript(module: nn.Module, example: torch.Tensor, path: Path, opset: int) -> None:
    with _quiet_tracing():
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME, MEMBERS_NAME],
            opset_version=opset,
            dynamo=False,
            dynamic_axes={name: {0: "batch"} for name in (INPUT_NAME, OUTPUT_NAME, MEMBERS_NAME)},
        )


def _trace(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    # check_trace off: verify() compares the saved file with PyTorch, which is stricter.
    with _quiet_tracing(), torch.no_grad():
        traced = torch.jit.trace(module, example, check_trace=False)
        torch.jit.save(traced, str(path))


@contextmanager
def _quiet_loggers(*names: str) -> Iterator[None]:
    """The ONNX optimiser logs every rewrite at INFO, which Hydra's job logging would print."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextmanager
def _quiet_tracing() -> Iterator[None]:
    """Tracing members that are LightningModules, without warnings that are not news.

    A LightningModule's ``trainer`` property raises when no Trainer is attached, and tracing
    probes every attribute; Lightning's own ``to_torchscript`` sets this flag for that.
    torch.jit is deprecated in torch 2.x, and the loop over members that tracing warns about
    has a fixed length for a given model.
    """
    with warnings.catch_warnings(), _jit_is_scripting():
        warnings.filterwarnings("ignore", message=r"`torch\.jit", category=FutureWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="torchmetrics")
        yield


def _load_exported(path: Path, format: str) -> Callable[[torch.Tensor], np.ndarray]:
    if format == "onnx":
        import onnxruntime  # here, not at the top: only ONNX exports need it

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda images: session.run([OUTPUT_NAME], {INPUT_NAME: images.numpy()})[0]
    with _quiet_tracing():
        scripted = torch.jit.load(str(path), map_location="cpu")

    def run(images: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return scripted(images).numpy()

    return run


def _sidecar(predictor: Predictor, format: str, exporter: str, opset: int, difference: float):
    p, decision = predictor.preprocessing, predictor.decision
    size, members = p.image_size, len(predictor.model.members)
    return {
        "sidecar_format": SIDECAR_FORMAT,
        "format": format,
        "file": FORMATS[format],
        "exporter": exporter,
        "opset": opset if format == "onnx" else None,
        "input": {"name": INPUT_NAME, "dtype": "float32", "shape": ["batch", 3, size, size]},
        "output": {
            "name": OUTPUT_NAME,
            "dtype": "float32",
            "shape": ["batch"],
            "meaning": f"P({decision.class_names[FRACTURED]}), mean over the members",
        },
        # ONNX only: each member's probability, in the order of "sources".
        "members": {"name": MEMBERS_NAME, "dtype": "float32", "shape": ["batch", members]}
        if format == "onnx"
        else None,
        "backbones": [member.hparams.backbone for member in predictor.model.members],
        "image_size": size,
        "resize_size": p.resize_size,
        "fit": p.fit,
        "mean": list(p.mean),
        "std": list(p.std),
        "class_names": list(decision.class_names),
        "threshold": decision.threshold,
        "decision": "class_names[1] when probability >= threshold, else class_names[0]",
        "preprocessing": recipe(p.fit),
        # Already applied inside the model; recorded to say which calibration it carries.
        "temperatures": predictor.model.temperatures.tolist(),
        "sources": [str(f.resolve()) for f in predictor.sources],
        "digest": predictor.digest,
        "fracture_version": __version__,
        "torch_version": torch.__version__,
        "verification": {
            "max_abs_difference": difference,
            "tolerance": TOLERANCE,
            "batch_sizes": list(VERIFY_BATCH_SIZES),
            "seed": VERIFY_SEED,
            "runtime": "onnxruntime CPUExecutionProvider" if format == "onnx" else "torch.jit",
        },
    }


def write_sidecar(out_dir: Path, record: dict) -> None:
    """``model.json``, written atomically: a reader never sees half a sidecar."""
    path = out_dir / SIDECAR
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(record, indent=2) + "\n")
    partial.replace(path)
