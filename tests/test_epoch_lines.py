"""EpochLines: a plain line per epoch, from the metrics Lightning hands its loggers."""

import logging

import pytest

from fracture.errors import ConfigError
from fracture.logs import ConsoleFormatter, EpochLines


def _epoch(lines: EpochLines, epoch: int, train_loss: float, val_auroc: float) -> None:
    # The order in which Lightning logs them: steps, validation epoch end, train epoch end.
    lines.log_metrics({"train/loss_step": 9.0, "epoch": float(epoch)}, step=1)
    lines.log_metrics(
        {"val_epoch/loss": 0.5, "val_epoch/auroc": val_auroc, "epoch": float(epoch)}, step=2
    )
    lines.log_metrics({"train/loss_epoch": train_loss, "epoch": float(epoch)}, step=2)


def test_one_line_per_epoch_with_train_and_validation(caplog):
    lines = EpochLines(when="always")
    with caplog.at_level(logging.INFO, logger="fracture"):
        _epoch(lines, 0, 0.7, 0.61)
        _epoch(lines, 1, 0.4, 0.83)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith(
        "epoch 1: train/loss 0.700 val_epoch/auroc 0.610 val_epoch/loss 0.500 ("
    )
    assert messages[1].startswith("epoch 2: train/loss 0.400 val_epoch/auroc 0.830")
    assert "9.000" not in " ".join(messages)  # step values are not epoch results


def test_silent_when_never(caplog):
    with caplog.at_level(logging.INFO, logger="fracture"):
        _epoch(EpochLines(when="never"), 0, 0.7, 0.6)
    assert not caplog.records


def test_bad_setting_is_one_line():
    with pytest.raises(ConfigError, match="when='sometimes'"):
        EpochLines(when="sometimes")


def test_console_lines_are_plain_and_warnings_say_so():
    formatter = ConsoleFormatter()
    info = logging.LogRecord("x", logging.INFO, __file__, 1, "run done", None, None)
    warning = logging.LogRecord("x", logging.WARNING, __file__, 1, "leakage", None, None)
    assert formatter.format(info) == "run done"
    assert formatter.format(warning) == "warning: leakage"
