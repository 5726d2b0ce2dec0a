"""The one prediction loop: outputs placed at their inputs' positions, failures kept, and every
tool that runs a model over images calling it."""

import ast
from pathlib import Path

import pytest
import torch

from fracture.trained.loop import InputBatch, collate_inputs, numbered, run_batches

PACKAGE = Path(__file__).parents[1] / "fracture"
# Evaluation, fracture-predict, fracture-serve and the feature cache.
CALLERS = [
    "evaluation/predictions.py",
    "inference/predict.py",
    "serve/runner.py",
    "callbacks/features.py",
]


def test_outputs_are_placed_at_their_positions_and_failures_keep_their_place():
    batches = [
        InputBatch(torch.tensor([[3.0], [1.0]]), [3, 1], [(0, "truncated")]),
        InputBatch(torch.tensor([[2.0]]), [2], [(4, "too many pixels")]),
    ]
    outputs = run_batches(lambda x: x * 10, batches, 5)
    assert outputs.errors == {0: "truncated", 4: "too many pixels"}
    assert outputs.values[1:4, 0].tolist() == [10.0, 20.0, 30.0]
    assert torch.isnan(outputs.values[[0, 4]]).all()
    assert outputs.row(0) is None and outputs.row(2).tolist() == [20.0]


def test_forward_runs_in_inference_mode_and_the_result_is_a_normal_tensor():
    seen = []

    def forward(images):
        seen.append(torch.is_inference_mode_enabled())
        return images + 1

    outputs = run_batches(forward, numbered([(torch.zeros(2, 3), "labels")]), 2)
    assert seen == [True]
    assert not outputs.values.is_inference()  # a head trained on cached features saves it
    assert outputs.values.shape == (2, 3)


def test_numbered_batches_run_on_in_loader_order():
    batches = list(numbered([(torch.zeros(2, 1), 0), (torch.zeros(3, 1), 0)]))
    assert [b.indices for b in batches] == [[0, 1], [2, 3, 4]]


def test_collate_separates_failed_inputs():
    items = [
        (torch.ones(2), 0, ""),
        (torch.zeros(0), 1, "unsupported format"),
        (torch.ones(2), 2, ""),
    ]
    batch = collate_inputs(items)
    assert batch.images.shape == (2, 2) and batch.indices == [0, 2]
    assert batch.failed == [(1, "unsupported format")]


def test_every_batch_failing_gives_nan_rows():
    outputs = run_batches(lambda x: x, [InputBatch(torch.zeros(0), [], [(0, "bad")])], 1)
    assert outputs.errors == {0: "bad"} and torch.isnan(outputs.values).all()


@pytest.mark.parametrize("module", CALLERS)
def test_each_tool_runs_its_model_through_the_loop(module):
    tree = ast.parse((PACKAGE / module).read_text())
    called = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert "run_batches" in called
    # No loop of its own over a DataLoader: the tools build inputs, the loop runs the model.
    loops = [ast.unparse(node.iter) for node in ast.walk(tree) if isinstance(node, ast.For)]
    assert not [loop for loop in loops if "loader" in loop and "_in_order" not in loop]
