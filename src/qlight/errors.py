"""Domain errors of qlight.

Every error names what is wrong and carries the offending value. Only :mod:`qlight.cli`
turns them into exit codes and only ``qlight.api`` into HTTP errors.
"""

from __future__ import annotations

__all__ = ["ConfigurationError", "FileFormatError", "ParameterError", "QlightError"]


class QlightError(Exception):
    """Base class of every error qlight raises on purpose."""


class ParameterError(QlightError, ValueError):
    """A parameter is outside its physical or technical domain.

    Parameters
    ----------
    name : str
        Name of the offending parameter, as the user wrote it (``"eta"``, ``"k21_per_ns"``).
    value : object
        The value that was given.
    requirement : str
        What the value must satisfy, in words (``"must be in [0, 1]"``).
    """

    def __init__(self, name: str, value: object, requirement: str) -> None:
        self.name = name
        self.value = value
        self.requirement = requirement
        super().__init__(f"{name}={value!r} {requirement}")


class ConfigurationError(QlightError):
    """A configuration file or setting is invalid."""


class FileFormatError(QlightError):
    """A file is corrupted, truncated or not of the expected format."""
