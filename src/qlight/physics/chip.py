"""Chip sample model (being written)."""
