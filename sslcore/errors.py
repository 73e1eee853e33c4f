"""The error types every layer raises: kept here, importing nothing of ours, so that ``config`` and the
registries (``data``, ``augment``, ``methods``, ``backbones``) can all raise them without importing each other."""
from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value or an input is invalid; the message names the field and the fix, in one line."""


class RunNotFound(KeyError):
    """No such run (or no such checkpoint / embedding of a run); the message says what exists instead."""

    def __str__(self) -> str:
        return str(self.args[0])


class StoreError(RuntimeError):
    """The run store cannot be read or written (disk full, read-only folder, damaged database); the message says
    which and what to do, in one line."""
