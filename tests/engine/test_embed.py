"""Discovery with the workspace model's own embeddings: computed in an engine child, cached by content."""

from __future__ import annotations

import json

from ftui.cli import main
from ftui.core.curate import edits as cluster_edits
from ftui.core.curate import embeddings
from ftui.core.workspace.workspace import Workspace
from tests.fixtures.unlabeled import kind_of, make_unlabeled_workspace


def test_embeddings_come_from_a_child_and_are_cached(tmp_path, tiny_model_dir, capsys, monkeypatch):
    root = make_unlabeled_workspace(tmp_path / "ws")
    (root / "ftui.yaml").write_text(f"run_log: run_log.jsonl\ncandidate_threshold: 3\nmodel: {tiny_model_dir}\n")
    ws = Workspace.load(root)
    calls = []
    real_run = embeddings.subprocess.run

    def spy(cmd, *a, **k):
        if "ftui.engine" in cmd:
            calls.append(cmd)
        return real_run(cmd, *a, **k)

    monkeypatch.setattr(embeddings.subprocess, "run", spy)

    code = main(["discover", str(root), "--embeddings", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["run"]["embeddings"] == str(tiny_model_dir)
    assert len(calls) == 1 and calls[0][1:4] == ["-m", "ftui.engine", "embed"]
    kinds = [{kind_of(i) for i in c["ids"]} for c in out["clusters"]]
    assert sorted(map(sorted, kinds)) == [["json"], ["language"], ["refusal"]]

    # Unchanged items: the cache answers, no second child.
    res = cluster_edits.run_discovery(ws, embeddings=True)
    assert len(calls) == 1 and len(res.names) == 3
    vecs = embeddings.embed_items(ws, [it for c in res.report.clusters for it in c.items])
    assert len(vecs) == 24 and abs(float((vecs["json-0"] ** 2).sum()) - 1.0) < 1e-4
