"""The whole loop on a discovered cluster: the sample's log without its failure labels.

Discovery finds the clusters; the reviewed corrections are imported by item id; the build targets
the largest discovered cluster; a short LoRA run on the embedded model trains in a detached
child; the evaluation and the postmortem name the discovered cluster. Few steps: this proves the
loop runs on an overlay cluster, not that the fine-tune works (the demo test does that).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ftui.core.curate import edits as cluster_edits
from ftui.core.runs import runs
from ftui.core.workspace.workspace import Workspace
from ftui.sample.corrections import REVIEW_FILE
from ftui.sample.demo import run_demo

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


@pytest.fixture
def unlabeled_sample(tmp_path) -> Path:
    ws = tmp_path / "sample"
    ws.mkdir()
    for name in ("ftui.yaml", REVIEW_FILE):
        shutil.copy(SAMPLE / name, ws / name)
    # The forgetting check's local tasks, which the sample's ftui.yaml names.
    shutil.copytree(SAMPLE / "general_tasks", ws / "general_tasks")
    with open(SAMPLE / "run_log.jsonl", encoding="utf-8") as src, open(ws / "run_log.jsonl", "w") as dst:
        for line in src:
            row = json.loads(line)
            row.pop("failure_label", None)
            dst.write(json.dumps(row) + "\n")
    return ws


@pytest.mark.slow
def test_correct_build_train_eval_on_a_discovered_cluster(unlabeled_sample):
    ws = Workspace.load(unlabeled_sample)
    found = cluster_edits.run_discovery(ws)
    top = found.report.clusters[0]
    assert top.discovered and top.label == "prose_where_json_expected" and top.count == 65

    result = run_demo(unlabeled_sample, method="sft", max_steps=2, eval_limit=8, log=lambda s: None)

    assert result.cluster == "prose_where_json_expected"
    assert runs.read_state(result.run_dir).state == "finished"
    manifest = json.loads((Path(runs.read_run_config(result.run_dir)["build_dir"]) / "manifest.json").read_text())
    assert manifest["per_cluster"]["prose_where_json_expected"]["corrected"] > 30
    rep = result.report
    assert rep["targeted_cluster"] == "prose_where_json_expected" and rep["targeted"]["total"] > 0
    assert "prose_where_json_expected" in result.postmortem.read_text()
