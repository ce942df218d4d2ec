"""Errors that carry a location, so every message can name the file and line."""

from __future__ import annotations

from pathlib import Path


class FtuiError(Exception):
    """An error meant for the user: its str() is the whole one-line message."""


class LocatedError(FtuiError):
    """An error in a file: the message starts with `path:line:` so a terminal user can jump there."""

    def __init__(self, path: Path | str, line: int | None, message: str):
        self.path = Path(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line else f"{self.path}"
        super().__init__(f"{where}: {message}")


class ConfigError(LocatedError):
    """A workspace config (ftui.yaml) that cannot be used."""


class InputError(LocatedError):
    """A data file that cannot be used at all (missing, unreadable, wrong kind)."""
