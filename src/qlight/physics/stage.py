"""Stage model (being written)."""
