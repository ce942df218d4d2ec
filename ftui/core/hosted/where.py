"""A training run trains here (a detached child) or at a hosted service: starting and stopping it
the right way for where it trains, with the one line that says what was done. `ftui train`/`ftui
stop` and the Train pane both go through here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftui.core.base import jobs
from ftui.core.hosted import hosted
from ftui.core.runs import runs

if TYPE_CHECKING:
    from ftui.core.workspace.workspace import Workspace

LOCAL = "local"
HOSTED = "hosted"


def start(ws: Workspace, build: Any, overrides: dict[str, Any], target: str = LOCAL) -> tuple[Path, int | None]:
    """A new run of `build` with the train settings `overrides`; returns (run_dir, pid), no pid for a hosted job."""
    if target == HOSTED:
        epochs = overrides.get("epochs")
        to = hosted.target_for(ws, epochs=int(epochs) if epochs else None)
        method = overrides.get("method") or ws.train.method
        return hosted.submit(ws, build, to, method, say=lambda _m: None), None
    run_dir = runs.create_run(ws, build, overrides)
    return run_dir, runs.start_training(run_dir)


@dataclass
class Stopped:
    hosted: bool
    signalled: bool  # a local child got SIGTERM (else only its stop file was written); a hosted cancel was sent
    text: str


def stop(run_dir: Path) -> Stopped:
    """Cancel a hosted job at its service, or ask a local child to stop (it saves a checkpoint first).
    A hosted service's refusal is a `hosted.HostedError`."""
    name = Path(run_dir).name
    if hosted.is_hosted(run_dir):
        hosted.cancel(run_dir)
        return Stopped(True, True, f"cancelled hosted job of {name}")
    if jobs.request_stop(run_dir):
        return Stopped(False, True, f"stop requested for {name}: it saves a checkpoint and ends with `cancelled`")
    return Stopped(False, False, f"stop file written for {name} (no live process found)")
