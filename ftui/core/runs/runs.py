"""Run directories and the detached child processes that fill them.

The child runs in its own session with stdout/stderr going to a log file in the run directory, so
it outlives the UI, the CLI and the SSH connection, and never blocks on a pipe nobody reads.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftui.core.base import events as _events
from ftui.core.base.errors import InputError
from ftui.core.base.fsutil import atomic_write_json, read_json_file
from ftui.core.base.jobs import child_alive, mark_resume, read_pid, start_child
from ftui.core.base.paths import read_path, store_path, workspace_root
from ftui.core.base.run_dirs import new_run_dir
from ftui.core.base.stack import require_train_stack
from ftui.core.build import files as build_files
from ftui.core.runs.fold import fold_run
from ftui.core.workspace.workspace import TrainConfig

if TYPE_CHECKING:
    from ftui.core.workspace.workspace import Workspace


# ---------------------------------------------------------------------------------------------
# Training runs: create, start, list, read state, tail, stop.


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def train_settings(ws: Workspace, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The workspace's train settings with `overrides` applied, checked by the train section's own
    rules (a SettingError names the setting); unknown keys are refused."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = [k for k in given if k not in known]
    if unknown:
        raise ValueError(f"unknown training setting {unknown[0]!r}")
    return asdict(dataclasses.replace(ws.train, **given))


# What config.json holds beside the train settings: where the run comes from, what it trains, and
# the fine-tuning service's job it runs for (`ftui service`).
RUN_KEYS = ("run_id", "created", "workspace", "model", "build_dir", "build_id", "service_job")


def train_config(config: dict[str, Any]) -> TrainConfig:
    """A run's train settings as the TrainConfig they were written from; SettingError names an
    unknown or broken one."""
    return TrainConfig.from_dict({k: v for k, v in config.items() if k not in RUN_KEYS})


def create_run(ws: Workspace, build: Any, overrides: dict[str, Any] | None = None, parent: Path | None = None) -> Path:
    """A new run directory holding config.json; `build` is a Build (with .dir) or a build folder path.

    Returns the run directory (under `parent`, default the workspace's runs); start it with
    `start_training(run_dir)`.
    """
    build_dir = Path(getattr(build, "dir", build)).resolve()
    manifest = read_json_file(build_dir / "manifest.json", "not a dataset build folder (no manifest.json)")
    overrides = dict(overrides or {})
    model = overrides.pop("model", None) or ws.model
    cfg = train_settings(ws, overrides)
    needed = build_files.train_file(build_dir, cfg["method"])
    if not needed.is_file():
        hint = " (build it with build.rewards or train.method: grpo)" if cfg["method"] == "grpo" else ""
        raise InputError(
            needed,
            None,
            f"build {build_dir.name} has no {needed.name}: it cannot train with {cfg['method'].upper()}{hint}",
        )
    if not _has_rows(needed):
        raise InputError(
            needed,
            None,
            f"build {build_dir.name} has no training rows: write corrections first "
            "(the Correct pane, or `ftui correct`), then build again",
        )
    # Checked here, before a run folder exists, rather than by a child failing seconds later.
    require_train_stack()
    if cfg.get("accelerate_config"):
        from ftui.core.runs.accelerate_checks import check_launch

        cfg["accelerate_config"] = str((Path(ws.root) / cfg["accelerate_config"]).resolve())
        check_launch(cfg)
    run_dir = new_run_dir(parent or ws.state.runs, cfg["method"])
    # Stored relative to the run folder, so a copied or moved workspace keeps its runs' builds.
    config = {
        "run_id": run_dir.name,
        "created": _now_iso(),
        "workspace": str(ws.root),
        "model": model,
        "build_dir": store_path(build_dir, run_dir),
        "build_id": manifest.get("build_id", build_dir.name),
        **cfg,
    }
    atomic_write_json(run_dir / "config.json", config)
    from ftui.core.runs import probes

    probe_set = probes.plan(ws, manifest, int(cfg.get("probes") or 0))
    if probe_set is not None:
        probes.write(run_dir, probe_set)
    return run_dir


def _has_rows(path: Path) -> bool:
    with open(path, encoding="utf-8") as fh:
        return any(line.strip() for line in fh)


def start_training(run_dir: Path, resume: bool = False) -> int:
    """Launch the detached training child for `run_dir`; returns its pid."""
    run_dir = Path(run_dir)
    require_train_stack()
    if resume:
        state = read_state(run_dir)
        if state.state == "running":
            raise InputError(run_dir, None, f"run {run_dir.name} is still running (pid {state.pid})")
        if state.state == "finished":
            raise InputError(run_dir, None, f"run {run_dir.name} has finished; there is nothing to resume")
        mark_resume(run_dir)
    return start_child(["train", str(run_dir.resolve())] + (["--resume"] if resume else []), run_dir, "train.log")


def start_run(ws: Workspace, build: Any, overrides: dict[str, Any] | None = None) -> Path:
    run_dir = create_run(ws, build, overrides)
    start_training(run_dir)
    return run_dir


def read_run_config(run_dir: Path | str) -> dict[str, Any]:
    """A run's config.json, its paths resolved; a missing or broken one is an InputError naming the file."""
    return resolve_paths(read_json_file(Path(run_dir) / "config.json", "not a run folder (no config.json)"), run_dir)


def resolve_paths(cfg: dict[str, Any], run_dir: Path | str) -> dict[str, Any]:
    """A run config with `build_dir` made absolute (stored relative, or absolute in a workspace that
    was since copied or moved) and `workspace` the one the run folder is in now."""
    out = dict(cfg)
    old = cfg.get("workspace")
    if cfg.get("build_dir"):
        out["build_dir"] = str(read_path(cfg["build_dir"], run_dir, old))
    root = workspace_root(run_dir)
    if root is not None:
        out["workspace"] = str(root)
    return out


@dataclass
class RunInfo:
    id: str
    dir: Path
    state: str
    method: str | None = None
    model: str | None = None
    build_id: str | None = None
    created: str | None = None
    pid: int | None = None
    step: int | None = None
    max_steps: int | None = None
    loss: float | None = None
    eval_loss: float | None = None
    best_eval_loss: float | None = None
    best_step: int | None = None
    tokens_per_s: float | None = None
    adapter: str | None = None
    error: str | None = None
    hint: str | None = None
    last_checkpoint: str | None = None
    last_event_t: float | None = None
    message: str | None = None
    # the run's last `probe` event (graded validation items), when it probes
    last_probe: dict[str, Any] | None = None
    config: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["dir"] = str(self.dir)
        d.pop("config")
        return d


def summarize(events: Iterable[dict[str, Any]], info: RunInfo) -> dict[str, Any] | None:
    """Fold events into `info` (through the one fold, `RunFold`); returns the final event that still
    stands, if any. An event after a final one (a resume) makes the run current again."""
    f = fold_run(events)
    if f.last_log is not None or f.final is not None:
        info.step = f.step
    info.max_steps = f.max_steps if f.max_steps is not None else info.max_steps
    info.loss, info.tokens_per_s, info.eval_loss = f.loss, f.tokens_per_s, f.eval_loss
    info.best_eval_loss, info.best_step = f.best_eval, f.best_step
    info.last_checkpoint, info.adapter = f.last_checkpoint, f.adapter
    info.error, info.hint, info.message = f.error, f.hint, f.message
    info.last_event_t = f.last_event_t
    info.last_probe = f.last_probe
    return f.final


def read_state(run_dir: Path, now: float | None = None) -> RunInfo:
    """A run's state from its files alone (works for runs started by another process or machine login)."""
    run_dir = Path(run_dir)
    try:
        config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        config = {}
    info = RunInfo(
        id=run_dir.name,
        dir=run_dir,
        state="running",
        method=config.get("method"),
        model=config.get("model"),
        build_id=config.get("build_id"),
        created=config.get("created"),
        pid=read_pid(run_dir),
        config=config,
    )
    evs, _ = _events.read_events(run_dir / "events.jsonl")
    final = summarize(evs, info)
    if final is not None:
        info.state = final["type"]
        return info
    if config.get("kind") == "hosted":
        # No local process or heartbeat: the service owns the job; `ftui hosted status` polls it.
        info.state = "running"
        return info
    info.state = "running" if _alive(run_dir, info, now) else "dead"
    return info


def _alive(run_dir: Path, info: RunInfo, now: float | None) -> bool:
    return child_alive(run_dir, info.pid, info.last_event_t, now)


def list_runs(ws: Workspace) -> list[RunInfo]:
    """Every run of the workspace, newest first."""
    runs_dir = Path(ws.state.runs)
    if not runs_dir.is_dir():
        return []
    out = [read_state(d) for d in runs_dir.iterdir() if d.is_dir() and (d / "config.json").is_file()]
    out.sort(key=lambda r: (r.created or "", r.id), reverse=True)
    return out


def find_run(ws: Workspace, ref: str) -> Path:
    """A run by id, unique id prefix, or path; "latest"/"last" is the newest run."""
    p = Path(ref).expanduser()
    if (p / "config.json").is_file():
        return p.resolve()
    runs_dir = Path(ws.state.runs)
    if ref in ("latest", "last"):
        runs = list_runs(ws)
        if not runs:
            raise InputError(runs_dir, None, "no runs yet")
        return runs[0].dir
    if (runs_dir / ref / "config.json").is_file():
        return runs_dir / ref
    matches = sorted(d for d in runs_dir.glob(f"{ref}*") if (d / "config.json").is_file()) if runs_dir.is_dir() else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise InputError(runs_dir, None, f"run id {ref!r} is ambiguous: {', '.join(m.name for m in matches[:5])}")
    raise InputError(runs_dir, None, f"no run {ref!r}")


def latest_build_dir(ws: Workspace) -> Path:
    """The newest dataset build folder."""
    return build_dir_for(ws, None)


def build_dir_for(ws: Workspace, build_id: str | None) -> Path:
    """A build folder by id, unique id prefix or path; None = the latest build."""
    from ftui.core.build.store import load_build

    if build_id is not None:
        p = Path(build_id).expanduser()
        if (p / "manifest.json").is_file():
            return p.resolve()
    return Path(load_build(ws, build_id).dir)
