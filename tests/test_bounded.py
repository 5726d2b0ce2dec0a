"""Decoding under a deadline: a file that hangs its decoder is unreadable, the rest goes on.

The hanging file is real: a JPEG 2000 DICOM with a JP2 box of length 0, on which pydicom 3
loops for ever. Its pre-check (``_check_encapsulated_frame``) is switched off here so that the
deadline alone has to save the day; workers are forked, so the monkeypatch reaches them.
"""

import os
import time

import numpy as np
import pytest

import fracture.data.decode as decode_module
from fracture.audit.report import audit_splits
from fracture.data.bounded import BoundedWorker, DecodeTimeout, bounded_map
from fracture.data.decode import DEFAULT_MAX_PIXELS
from fracture.data.inspection import inspect_files
from fracture.data.samples import Sample
from fracture.errors import UnreadableImage
from tests import formats

DEADLINE_S = 1.0
# Far below "for ever", far above the deadline plus a fork on a loaded 2-core machine.
ANSWERED_WITHIN_S = 20.0


@pytest.fixture
def hanging_dicom(tmp_path, monkeypatch):
    monkeypatch.setattr(decode_module, "_check_encapsulated_frame", lambda path, ds: None)
    arr = np.random.default_rng(0).integers(0, 256, (32, 48), dtype=np.uint8)
    return formats.write_jp2_dicom_with_zero_box(tmp_path, arr)


@pytest.fixture
def good_png(tmp_path):
    return formats.write_png8(tmp_path, np.full((16, 24), 77, np.uint8))


def test_a_hanging_decode_is_killed_at_the_deadline_and_the_worker_restarts(
    hanging_dicom, good_png
):
    worker = BoundedWorker(DEADLINE_S)
    try:
        started = time.monotonic()
        with pytest.raises(DecodeTimeout) as caught:
            worker.call(hanging_dicom, decode_module.read_radiograph, hanging_dicom)
        assert time.monotonic() - started < ANSWERED_WITHIN_S
        assert caught.value.reason == "decoding took longer than 1 s"
        image = worker.call(good_png, decode_module.read_radiograph, good_png)
        assert np.asarray(image).tolist() == np.full((16, 24), 77).tolist()
    finally:
        worker.close()


def test_reasons_and_crashes_come_back_as_unreadable(tmp_path):
    worker = BoundedWorker(DEADLINE_S)
    try:
        with pytest.raises(UnreadableImage, match="zero bytes"):
            empty = formats.write_zero_byte(tmp_path)
            worker.call(empty, decode_module.read_radiograph, empty)
        with pytest.raises(UnreadableImage, match=r"the decoder crashed \(exit code 3\)"):
            worker.call("x.png", os._exit, 3)
    finally:
        worker.close()


def test_bounded_map_fails_only_the_late_item():
    failed = lambda item, reason: f"{item}: {reason}"  # noqa: E731
    results = dict(bounded_map(time.sleep, [0, 600, 0, 0], DEADLINE_S, 2, failed))
    assert results == {0: None, 1: "600: decoding took longer than 1 s", 2: None, 3: None}


def test_inspection_marks_the_hanging_file_and_inspects_the_rest(tmp_path, hanging_dicom, good_png):
    started = time.monotonic()
    facts = inspect_files([hanging_dicom, good_png], tmp_path / "cache", timeout_s=DEADLINE_S)
    assert time.monotonic() - started < ANSWERED_WITHIN_S
    assert facts[0].error == "decoding took longer than 1 s"
    assert facts[1].readable and facts[1].width == 24
    # Not cached: on a quiet machine the same file may decode in time.
    monkeypatched_back = inspect_files([good_png], tmp_path / "cache", timeout_s=DEADLINE_S)
    assert monkeypatched_back[0].readable


def test_the_real_zero_box_dicom_is_refused_before_the_decoder(tmp_path, good_png):
    arr = np.zeros((32, 48), np.uint8)
    path = formats.write_jp2_dicom_with_zero_box(tmp_path, arr)
    facts = inspect_files([path, good_png], None, timeout_s=DEADLINE_S)
    assert facts[0].error == "corrupt JPEG 2000 data: a box of length 0 at byte 12"
    assert facts[1].readable


def test_the_audit_reports_the_hanging_file_and_audits_the_rest(hanging_dicom, good_png):
    splits = {"train": [Sample(hanging_dicom, 1), Sample(good_png, 0)]}
    report, prints, _ = audit_splits(
        splits, None, DEFAULT_MAX_PIXELS, progress=False, timeout_s=DEADLINE_S
    )
    assert report["unreadable"] == [
        {"path": str(hanging_dicom), "split": "train", "reason": "decoding took longer than 1 s"}
    ]
    assert [p.path for p in prints] == [str(good_png)]
