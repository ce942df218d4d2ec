"""What the postmortem reads from the run's own files: its config, build manifest, loss curve and
evaluation report, and the targeted cluster's size in the run log and the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftui.core.base.events import read_events
from ftui.core.judge.evalrun import read_manifest, read_report
from ftui.core.runs.runs import read_run_config

if TYPE_CHECKING:
    from ftui.core.workspace.workspace import Workspace


def loss_summary(run_dir: Path | str) -> dict[str, Any]:
    evs, _ = read_events(Path(run_dir) / "events.jsonl")
    out: dict[str, Any] = {
        "steps": None,
        "first_loss": None,
        "last_loss": None,
        "best_eval_loss": None,
        "best_step": None,
        "evals": 0,
        "early_stopped": False,
        "runtime_s": None,
        "state": None,
        "rewards": [],
        "warnings": [],
    }
    for ev in evs:
        kind = ev["type"]
        if kind == "warning":
            out["warnings"].append(ev.get("message"))
        if kind == "log":
            if isinstance(ev.get("reward"), (int, float)):
                out["rewards"].append((ev.get("step"), ev["reward"], ev.get("frac_reward_zero_std")))
            if out["first_loss"] is None:
                out["first_loss"] = ev.get("loss")
            out["last_loss"], out["steps"] = ev.get("loss"), ev.get("step")
        elif kind == "eval":
            out["evals"] += 1
            loss = ev.get("eval_loss")
            if isinstance(loss, (int, float)) and (out["best_eval_loss"] is None or loss < out["best_eval_loss"]):
                out["best_eval_loss"], out["best_step"] = loss, ev.get("step")
        elif kind == "early_stop":
            out["early_stopped"] = True
        elif kind in ("finished", "failed", "cancelled"):
            out["state"] = kind
            if kind == "finished":
                if ev.get("best_eval_loss") is not None:
                    out["best_eval_loss"], out["best_step"] = ev["best_eval_loss"], ev.get("best_step")
                out["runtime_s"] = ev.get("total_runtime_s", ev.get("runtime_s"))
    return out


def _benchmark_counts(ws: Workspace | None, target: str | None) -> tuple[int | None, int | None, int | None]:
    """(failures of the cluster in the run log, of them in the benchmark, benchmark size)."""
    if ws is None:
        return None, None, None
    from ftui.core.curate.clusters import is_model_failure, label_of, load_overlay
    from ftui.core.logs.runlog import load_benchmark, load_run_log

    log = load_run_log(ws)
    bench = load_benchmark(ws) if ws.benchmark else log
    # The cluster is the model's failures only: a retrieval miss with the same label is not in it.
    overlay = load_overlay(ws)
    in_log = sum(
        1 for it in log.items if label_of(it, overlay) == target and is_model_failure(ws, it, log.has_retrieval)
    )
    in_bench = sum(
        1 for it in bench.items if label_of(it, overlay) == target and is_model_failure(ws, it, bench.has_retrieval)
    )
    return in_log, in_bench, len(bench.items)


@dataclass(frozen=True)
class Evidence:
    """Everything the postmortem reads: the run's config, its build manifest, its loss curve and
    its evaluation report, with the slices of the report each question looks at."""

    run_dir: Path
    config: dict[str, Any]
    report: dict[str, Any]
    manifest: dict[str, Any]
    loss: dict[str, Any]
    ws: Workspace | None
    # Size of the targeted cluster: failures in the run log, of them in the benchmark, benchmark size.
    in_log: int | None
    in_bench: int | None
    bench_size: int | None

    @classmethod
    def read(cls, run_dir: Path, ws: Workspace | None) -> Evidence:
        config = read_run_config(run_dir)
        report = read_report(run_dir)
        manifest = read_manifest(config["build_dir"]) if config.get("build_dir") else {}
        in_log, in_bench, bench_size = _benchmark_counts(ws, report.get("targeted_cluster"))
        if in_log is None:
            in_log = ((manifest.get("per_cluster") or {}).get(report.get("targeted_cluster")) or {}).get("items")
            bench_size = report.get("benchmark_size")
        return cls(run_dir, config, report, manifest, loss_summary(run_dir), ws, in_log, in_bench, bench_size)

    @property
    def target(self) -> str | None:
        return self.report.get("targeted_cluster")

    @property
    def targeted(self) -> dict[str, Any]:
        return dict(self.report["targeted"])

    @property
    def verdict(self) -> dict[str, Any]:
        return dict(self.report["verdict"])

    @property
    def items(self) -> list[dict[str, Any]]:
        return list(self.report["items"])

    @property
    def per_cluster(self) -> dict[str, Any]:
        """The build's figures for the targeted cluster."""
        return dict((self.manifest.get("per_cluster") or {}).get(self.target) or {})

    @property
    def counts(self) -> dict[str, Any]:
        return dict(self.manifest.get("counts") or {})
