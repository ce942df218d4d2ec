"""The GRPO demo's own pieces: a copy of the sample with no corrections, and the held-out figure."""

from __future__ import annotations

from ftui.core.curate.corrections import CorrectionStore
from ftui.core.workspace.workspace import Workspace
from ftui.sample.demo_grpo import copy_without_state, held_out_rates
from tests.fixtures.datasets.workspace import make_workspace, write_default_corrections


def test_copy_has_no_corrections_and_no_state(tmp_path):
    ws = make_workspace(tmp_path / "ws")
    write_default_corrections(ws)
    (ws.root / "reviewed_corrections.jsonl").write_text("{}\n")
    assert CorrectionStore(ws).all()
    copy = copy_without_state(ws.root, tmp_path / "copy")
    assert not (copy / ".ftui").exists() and not (copy / "reviewed_corrections.jsonl").exists()
    assert CorrectionStore(Workspace.load(copy)).all() == {}
    assert (copy / "ftui.yaml").read_text() == (ws.root / "ftui.yaml").read_text()


def test_held_out_rates_count_only_the_trained_clusters():
    def item(cluster, base, tuned):
        return {"cluster": cluster, "base_grade": {"passed": base}, "tuned_grade": {"passed": tuned}}

    report = {
        "items": [
            item("wrong_fact", False, True),
            item("wrong_fact", False, False),
            item("vague_summary", True, True),
            item("vague_summary", False, True),
            item("prose_instead_of_json", False, True),
            item("passing", True, False),
        ]
    }
    h = held_out_rates(report, ["wrong_fact", "vague_summary"])
    assert h == {"total": 4, "base_passed": 1, "tuned_passed": 3, "change_points": 50.0}
