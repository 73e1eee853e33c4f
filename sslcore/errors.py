"""The error types every layer raises: kept here, importing nothing of ours, so that ``config`` and the
registries (``data``, ``augment``, ``methods``, ``backbones``) can all raise them without importing each other."""
from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value or an input is invalid; the message names the field and the fix, in one line."""
