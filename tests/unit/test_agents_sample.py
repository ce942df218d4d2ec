"""The tool-calling sample workspace reads as tool calls and has a tool-call failure cluster."""

from __future__ import annotations

from pathlib import Path

from ftui.core.base import toolcalls
from ftui.core.build import builder
from ftui.core.curate import clusters
from ftui.core.curate.corrections import CorrectionStore
from ftui.core.curate.review import import_review
from ftui.core.logs.runlog import load_run_log
from ftui.core.workspace.workspace import Workspace
from ftui.sample.agents import AGENTS_DIR, TOOLS, requests


def test_agents_sample_loads_with_tools_and_a_call_cluster(tmp_path):
    import shutil

    ws_dir = tmp_path / "agents"
    shutil.copytree(AGENTS_DIR, ws_dir, ignore=shutil.ignore_patterns(".ftui"))
    ws = Workspace.load(ws_dir)
    log = load_run_log(ws)
    assert not log.errors and log.items
    known = {r["id"] for r in requests()}
    assert all(it.id in known and toolcalls.load_tools(it.tools) == TOOLS for it in log.items)
    report = clusters.cluster_failures(ws, log)
    top = report.clusters[0]
    assert top.label in ("prose_instead_of_call", "wrong_tool", "wrong_arguments")
    imp = import_review(Path(ws_dir) / "reviewed_corrections.jsonl", log, CorrectionStore(ws))
    assert len(imp.applied) == report.failures
    b = builder.build(ws, [top.label])
    rows = b.rows("train") + b.rows("eval")
    assert rows and all(r["messages"][-1]["tool_calls"] for r in rows)
