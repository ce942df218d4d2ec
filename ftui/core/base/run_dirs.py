"""New run folders, local and hosted alike: named by their start time, each created exactly once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def new_run_dir(runs_dir: Path | str, kind: str) -> Path:
    """Create and return `runs_dir/<UTC time>-<kind>[-N]`.

    The folder is made with one mkdir that fails if it exists, so two runs started in the same
    second (two terminals, the workbench and the CLI) never share a folder: the loser takes the
    next free suffix.
    """
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    base = f"{_stamp()}-{kind}"
    run_id, n = base, 1
    while True:
        try:
            (runs_dir / run_id).mkdir()
            return runs_dir / run_id
        except FileExistsError:
            n += 1
            run_id = f"{base}-{n}"
