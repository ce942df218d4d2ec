"""Discovered clusters live in the overlay; hand edits are kept through a new discovery."""

from __future__ import annotations

import json

import pytest

from ftui.core.build import builder
from ftui.core.curate import edits as cluster_edits
from ftui.core.curate.clusters import cluster_failures, label_of, load_overlay
from ftui.core.curate.corrections import CorrectionStore
from ftui.core.judge.evalrun import cluster_of
from ftui.core.logs.runlog import load_run_log
from ftui.core.workspace.workspace import Workspace
from tests.fixtures.unlabeled import kind_of, make_unlabeled_workspace


@pytest.fixture
def ws(tmp_path):
    return Workspace.load(make_unlabeled_workspace(tmp_path / "ws"))


def _clusters(ws):
    return {c.label: sorted(c.ids) for c in cluster_failures(ws, load_run_log(ws)).clusters}


def test_discovery_is_an_overlay_the_log_is_untouched(ws):
    before = ws.run_log.read_bytes()
    res = cluster_edits.run_discovery(ws)
    assert ws.run_log.read_bytes() == before
    assert sorted(res.names) == ["other_language", "prose_where_json_expected", "refusal"]
    report = cluster_failures(ws, load_run_log(ws))
    assert all(c.discovered and c.description for c in report.clusters)
    assert {kind_of(i) for i in report.by_label("refusal").ids} == {"refusal"}
    assert (ws.state.root / "discovery" / "overlay.json").is_file()
    # Every reader of clusters sees the overlay: the evaluation's per-item cluster too.
    log = load_run_log(ws)
    ov = load_overlay(ws)
    item = log.by_id["refusal-0"]
    assert label_of(item, ov) == "refusal" and cluster_of(ws, item, log.has_retrieval, ov) == "refusal"
    assert cluster_of(ws, log.by_id["passing-0"], log.has_retrieval, ov) != "refusal"


def test_rename_move_merge_split_survive_rediscovery(ws):
    cluster_edits.run_discovery(ws)
    cluster_edits.rename(ws, "refusal", "says_no")
    cluster_edits.move(ws, ["json-0"], "says_no")
    cluster_edits.merge(ws, ["other_language", "prose_where_json_expected"], into="format")
    after_edits = _clusters(ws)
    assert "json-0" in after_edits["says_no"] and len(after_edits["says_no"]) == 9
    assert len(after_edits["format"]) == 15 and "refusal" not in after_edits
    res = cluster_edits.run_discovery(ws)
    assert _clusters(ws) == after_edits
    assert res.pinned == 16  # the moved item and the merged ones stay put

    _, names = cluster_edits.split(ws, "format", k=2)
    assert len(names) == 2 and all(n.startswith("format/") for n in names)
    split = _clusters(ws)
    assert "format" not in split and sorted(split[names[0]] + split[names[1]]) == after_edits["format"]
    cluster_edits.run_discovery(ws)
    assert _clusters(ws) == split


def test_a_renamed_cluster_keeps_its_name_when_rediscovered(ws):
    cluster_edits.run_discovery(ws)
    cluster_edits.rename(ws, "other_language", "answers_in_french")
    res = cluster_edits.run_discovery(ws, seed=1)
    assert "answers_in_french" in _clusters(ws) and res.inherited == {"other_language": "answers_in_french"}


def test_an_edit_is_dropped_when_the_item_changes(ws):
    cluster_edits.run_discovery(ws)
    cluster_edits.move(ws, ["json-1"], "refusal")
    assert "json-1" in _clusters(ws)["refusal"]
    rows = [json.loads(line) for line in ws.run_log.read_text().splitlines()]
    for r in rows:
        if r["question_id"] == "json-1":
            r["answer"] = "Something else entirely, now."
    ws.run_log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert "json-1" not in _clusters(ws).get("refusal", [])


def test_errors_name_the_problem(ws):
    cluster_edits.run_discovery(ws)
    with pytest.raises(cluster_edits.ClusterEditError, match="no cluster 'nope'"):
        cluster_edits.rename(ws, "nope", "x")
    with pytest.raises(cluster_edits.ClusterEditError, match="exists; merge"):
        cluster_edits.rename(ws, "refusal", "other_language")
    with pytest.raises(cluster_edits.ClusterEditError, match="not a model failure"):
        cluster_edits.move(ws, ["passing-0"], "refusal")


def test_labeled_and_discovered_clusters_coexist(tmp_path):
    root = make_unlabeled_workspace(tmp_path / "labeled")
    rows = [json.loads(line) for line in (root / "run_log.jsonl").read_text().splitlines()]
    for r in rows:
        if r["question_id"].startswith("json"):
            r["failure_label"] = "bad_format"
        elif r["grade"] != "correct":
            r["failure_label"] = "other"
    (root / "run_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ws = Workspace.load(root)
    with pytest.raises(cluster_edits.ClusterEditError, match="--within"):
        cluster_edits.run_discovery(ws)
    res = cluster_edits.run_discovery(ws, within="other")
    clusters = _clusters(ws)
    assert "bad_format" in clusters and "other" not in clusters
    assert sorted(res.names) == ["other/other_language", "other/refusal"]


def test_build_targets_a_discovered_cluster(ws):
    cluster_edits.run_discovery(ws)
    log = load_run_log(ws)
    store = CorrectionStore(ws)
    for i in range(8):
        it = log.by_id[f"json-{i}"]
        store.save(it, json.dumps({"file_path": f"src/{i}.py", "symbol": "x"}))
    b = builder.build(ws, clusters=["prose_where_json_expected"])
    assert b.manifest["per_cluster"]["prose_where_json_expected"]["corrected"] == 8
