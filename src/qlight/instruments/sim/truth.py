"""Evaluation interface to the twin ground truth (being written)."""
