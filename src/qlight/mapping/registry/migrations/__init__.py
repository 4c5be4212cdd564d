"""Alembic environment and versioned migrations of the registry schema (shipped in the package)."""
