"""Following a detached job from the shell until it ends: the one loop of every `--follow`.

Events are read every `jobs.POLL_S` seconds by `jobs.Tail.batches`. A job whose child is gone
without a final event ends the follow only when its state reader says "dead" (the liveness rule of
`jobs.child_alive`: its process is gone, or it has been silent for `jobs.DEAD_AFTER_S`), never on
a guess of its own.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ftui.core.base import jobs
from ftui.core.base.events import FINAL_TYPES


def batches(events: Path, dead: Callable[[], bool], offset: int = 0) -> Iterator[list[dict[str, Any]]]:
    """Each read's new events from `offset` (often none) until a final event or `dead()`."""
    return jobs.Tail(events, offset).batches(gone=dead)


def events(events: Path, dead: Callable[[], bool], offset: int = 0) -> Iterator[dict[str, Any]]:
    """The events as they come from `offset` until a final event or `dead()`."""
    return jobs.Tail(events, offset).follow(gone=dead)


def say(line: str) -> None:
    print(f"  {line}", file=sys.stderr, flush=True)


def job(
    job_dir: Path,
    line: Callable[[jobs.JobState], str],
    quiet: bool = False,
    state: Callable[[], jobs.JobState] | None = None,
) -> jobs.JobState:
    """Follow a job folder, printing `line(state)` to stderr whenever it changes (unless quiet); returns
    its state as the files tell it at the end: the final event's, or "dead"."""
    read = state or (lambda: jobs.job_state(job_dir))
    st = jobs.JobState("running", dir=str(job_dir))
    last = ""
    for evs in batches(Path(job_dir) / jobs.EVENTS, lambda: read().state == "dead"):
        jobs.fold(evs, st)
        if st.state in FINAL_TYPES:
            break
        text = line(st)
        if not quiet and text != last:
            say(text)
            last = text
    end = read()
    # The files are the truth; the folded copy still has the final event if the folder changed since.
    return end if end.state in (*FINAL_TYPES, "dead") else st
