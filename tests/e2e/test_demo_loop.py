"""A reduced `make demo`: the embedded model, fewer benchmark items evaluated, the same loop.

Corrections are imported from the shipped review file, the dataset is built, a LoRA SFT run
trains in a detached child on CPU, the evaluation child compares base and fine-tuned answers, and
the postmortem is written. The targeted cluster must improve and nothing the base model passed
may break.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ftui.core.runs import runs
from ftui.sample.corrections import REVIEW_FILE
from ftui.sample.demo import run_demo

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


@pytest.fixture
def sample_copy(tmp_path) -> Path:
    # The demo writes its state into the workspace; a copy keeps the repository's sample clean.
    ws = tmp_path / "sample"
    ws.mkdir()
    for name in ("ftui.yaml", "run_log.jsonl", REVIEW_FILE):
        shutil.copy(SAMPLE / name, ws / name)
    # The forgetting check's local tasks, which the sample's ftui.yaml names.
    shutil.copytree(SAMPLE / "general_tasks", ws / "general_tasks")
    return ws


@pytest.mark.slow
def test_quick_demo_fixes_the_cluster_without_regressions(sample_copy, monkeypatch):
    # The conftest forbids hub access; the embedded model comes from the package, not the hub.
    lines: list[str] = []
    result = run_demo(sample_copy, method="sft", quick=True, log=lines.append)

    assert runs.read_state(result.run_dir).state == "finished"
    t = result.targeted
    assert t["total"] >= 20, "too few held-out items of the cluster to measure anything"
    assert t["base_rate"] <= 0.2
    assert t["tuned_passed"] > t["base_passed"]
    assert t["tuned_rate"] >= 0.6
    assert result.regressions == []
    assert result.report["rest"]["total"] > 0, "no passing items were evaluated for regressions"
    assert result.postmortem.is_file()
    text = "\n".join(lines)
    assert "targeted cluster prose_instead_of_json" in text and "verdict:" in text
