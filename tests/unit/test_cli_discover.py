"""`ftui discover` and `ftui cluster ...` through ftui.cli.main."""

from __future__ import annotations

import json

import pytest

from ftui.cli import main
from tests.fixtures.unlabeled import kind_of, make_unlabeled_workspace


@pytest.fixture
def ws_dir(tmp_path):
    return make_unlabeled_workspace(tmp_path / "ws")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _clusters(capsys, ws_dir) -> dict:
    code, out, _ = run(capsys, "clusters", str(ws_dir), "--json")
    assert code == 0
    return {c["label"]: c for c in json.loads(out)["clusters"]}


def test_discover_then_clusters_lists_named_discovered_clusters(ws_dir, capsys):
    assert list(_clusters(capsys, ws_dir)) == ["unlabeled"]
    code, out, err = run(capsys, "discover", str(ws_dir))
    assert code == 0, err
    assert " ".join(out.split()).startswith(
        "Discovered 3 clusters in the failures with no label: 24 items, k=3 (one cluster per signature)"
    )
    assert "prose where JSON was expected (8 of 8)" in out and "e.g. json-" in out
    assert all(len(line) <= 80 for line in out.splitlines())
    clusters = _clusters(capsys, ws_dir)
    assert set(clusters) == {"prose_where_json_expected", "refusal", "other_language"}
    assert all(c["discovered"] for c in clusters.values())
    assert {kind_of(i) for i in clusters["refusal"]["ids"]} == {"refusal"} and len(clusters["refusal"]["ids"]) == 8
    code, out, _ = run(capsys, "clusters", str(ws_dir))
    assert "Discovered clusters (not from the log's labels" in out and "refusal: refuses to answer" in out


def test_discover_json_and_user_k(ws_dir, capsys):
    code, out, _ = run(capsys, "discover", str(ws_dir), "--json", "--k", "2", "--seed", "1", "--view", "topic")
    data = json.loads(out)
    assert code == 0 and data["run"]["chosen_by"] == "user" and len(data["clusters"]) == 2
    assert sum(len(c["ids"]) for c in data["clusters"]) == 24


def test_edits_from_the_shell_survive_rediscovery(ws_dir, capsys):
    run(capsys, "discover", str(ws_dir))
    w = ["-w", str(ws_dir), "--json"]
    code, out, err = run(capsys, "cluster", "rename", "refusal", "says_no", *w)
    assert code == 0, err
    assert json.loads(out)["clusters"][0]["label"] == "says_no"
    assert run(capsys, "cluster", "move", "json-0", "json-1", "--to", "says_no", *w)[0] == 0
    code, out, _ = run(capsys, "cluster", "merge", "other_language", "says_no", "--into", "odd", *w)
    assert code == 0 and json.loads(out)["clusters"][0]["count"] == 18
    code, out, _ = run(capsys, "cluster", "split", "prose_where_json_expected", "--k", "2", *w)
    assert code == 0
    parts = [c["label"] for c in json.loads(out)["clusters"]]
    assert len(parts) == 2 and all(p.startswith("prose_where_json_expected/") for p in parts)
    before = {k: sorted(v["ids"]) for k, v in _clusters(capsys, ws_dir).items()}
    assert run(capsys, "discover", str(ws_dir))[0] == 0
    assert {k: sorted(v["ids"]) for k, v in _clusters(capsys, ws_dir).items()} == before


def test_bad_edits_are_one_line_errors(ws_dir, capsys):
    run(capsys, "discover", str(ws_dir))
    code, _, err = run(capsys, "cluster", "rename", "nope", "x", "-w", str(ws_dir))
    assert code == 2 and err.startswith("ftui: no cluster 'nope'") and err.count("\n") == 1
    code, _, err = run(capsys, "cluster", "move", "missing-id", "--to", "refusal", "-w", str(ws_dir))
    assert code == 2 and "not in the run log" in err


def test_show_and_review_export_name_the_discovered_cluster(ws_dir, capsys, tmp_path):
    run(capsys, "discover", str(ws_dir))
    code, out, _ = run(capsys, "show", "refusal-1", "-w", str(ws_dir))
    assert code == 0 and out.startswith("refusal-1  [refusal]")
    path = tmp_path / "review.jsonl"
    code, _, _ = run(capsys, "export-review", "-w", str(ws_dir), "--cluster", "refusal", "-o", str(path))
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert code == 0 and len(rows) == 8 and {r["failure_label"] for r in rows} == {"refusal"}


def test_cluster_undo_takes_edits_back_one_at_a_time(ws_dir, capsys):
    run(capsys, "discover", str(ws_dir))
    w = ["-w", str(ws_dir), "--json"]
    start = {k: sorted(v["ids"]) for k, v in _clusters(capsys, ws_dir).items()}
    assert run(capsys, "cluster", "rename", "refusal", "says_no", *w)[0] == 0
    # A refused edit leaves nothing to undo of its own.
    assert run(capsys, "cluster", "rename", "nope", "x", *w)[0] == 2
    assert run(capsys, "cluster", "merge", "other_language", "says_no", "--into", "says_no", *w)[0] == 0
    assert "other_language" not in _clusters(capsys, ws_dir)
    assert run(capsys, "cluster", "undo", *w)[0] == 0
    assert set(_clusters(capsys, ws_dir)) == {"prose_where_json_expected", "says_no", "other_language"}
    assert run(capsys, "cluster", "undo", *w)[0] == 0
    assert {k: sorted(v["ids"]) for k, v in _clusters(capsys, ws_dir).items()} == start
