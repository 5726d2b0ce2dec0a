"""Evaluation beyond per-image test metrics."""
