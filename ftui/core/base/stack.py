"""Whether the packages a child process needs are installed, asked before the child is started.

`importlib.util.find_spec` finds a package without importing it, so the UI and the CLI can check
for torch in milliseconds and stay free of it.
"""

from __future__ import annotations

import importlib.util

from ftui.core.base.errors import FtuiError

# The `train` extra of pyproject.toml, as import names: what training and evaluation children load.
TRAIN_MODULES = ("torch", "transformers", "trl", "peft", "accelerate", "datasets")


class StackMissing(FtuiError):
    """A job that cannot start because an optional dependency group is not installed."""


def missing(modules: tuple[str, ...] = TRAIN_MODULES) -> list[str]:
    """The modules of `modules` that are not installed (none imported)."""
    out = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a broken or half-removed install reads as missing
            found = False
        if not found:
            out.append(name)
    return out


def require_train_stack(what: str = "training") -> None:
    """Raise StackMissing, with the install command, when the training stack is not installed."""
    gone = missing(TRAIN_MODULES)
    if gone:
        raise StackMissing(
            f"{what} needs the training stack, and {', '.join(gone)} {'is' if len(gone) == 1 else 'are'} "
            "not installed: pip install 'ftui[train]'"
        )
