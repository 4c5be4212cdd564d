"""Versioned migration scripts of the registry schema."""
