from __future__ import annotations

from pathlib import Path

import pytest

from ftui.core.build import builder, heldout_split
from ftui.core.build import plan as build_plan
from ftui.core.build import store as build_store
from ftui.core.build.anchors import anchor_stratum, select_anchors
from ftui.core.curate.corrections import CorrectionStore
from ftui.core.logs.runlog import load_run_log
from ftui.core.workspace.prompts import messages_for
from tests.fixtures.datasets.workspace import (
    default_rows,
    failing,
    item,
    make_workspace,
    write_default_corrections,
)


@pytest.fixture
def ws(tmp_path):
    w = make_workspace(tmp_path / "ws")
    write_default_corrections(w)
    return w


def test_only_corrected_items_are_targets_and_discards_have_reasons(ws):
    b = builder.build(ws)
    m = b.manifest
    reasons = {d["id"]: d["reason"] for d in m["discarded"]}
    assert reasons == {
        "wrong_symbol-10": "skipped",
        "wrong_symbol-11": "needs_review",
        "hallucination-5": "stale",
        "hallucination-6": "uncorrected",
        "hallucination-7": "uncorrected",
    }
    assert m["counts"]["discarded_by_reason"] == {"needs_review": 1, "skipped": 1, "stale": 1, "uncorrected": 2}
    rows = b.rows("train") + b.rows("validation") + b.rows("eval")
    corrections = {r["id"] for r in rows if r["kind"] == "correction"}
    assert corrections == {f"wrong_symbol-{i}" for i in range(10)} | {f"hallucination-{i}" for i in range(5)}
    assert "miss-1" not in corrections  # retrieval miss: not the model's failure
    assert m["per_cluster"]["wrong_symbol"]["corrected"] == 10
    assert m["per_cluster"]["wrong_symbol"]["discarded"] == 2
    assert m["per_cluster"]["hallucination"] == {
        "items": 8,
        "corrected": 5,
        "train": m["per_cluster"]["hallucination"]["train"],
        "validation": m["per_cluster"]["hallucination"]["validation"],
        "eval": m["per_cluster"]["hallucination"]["eval"],
        "discarded": 3,
    }
    for _label, s in m["per_cluster"].items():
        assert s["train"] + s["validation"] + s["eval"] == s["corrected"]


def test_targets_use_the_same_prompt_as_evaluation(ws):
    b = builder.build(ws)
    log = load_run_log(ws)
    store = CorrectionStore(ws)
    for row in b.rows("train") + b.rows("eval"):
        it = log.by_id[row["id"]]
        assert row["messages"][:2] == messages_for(it, ws.prompt)
        assert row["messages"][2]["role"] == "assistant"
        if row["kind"] == "correction":
            assert row["messages"][2]["content"] == store.get(it.id).output
        else:
            assert row["messages"][2]["content"] == it.answer  # anchor target: the logged passing answer


def test_anchor_ratio_and_stratification(ws):
    b = builder.build(ws)
    anchors = b.manifest["anchor_ids"]
    assert len(anchors) == 8  # round(0.5 * 15 corrections)
    log = load_run_log(ws)
    strata = {anchor_stratum(log.by_id[a]) for a in anchors}
    assert strata == {"task:locate", "task:explain", "length:short", "length:long"}
    assert all(log.by_id[a].grade == "correct" for a in anchors)
    b2 = builder.build(ws, anchor_ratio=0)
    assert b2.manifest["anchor_ids"] == []
    b3 = builder.build(ws, anchor_ratio=1.0)
    assert len(b3.manifest["anchor_ids"]) == 15
    b4 = builder.build(ws, anchor_ratio=5.0)
    assert len(b4.manifest["anchor_ids"]) == 18  # capped at the passing items there are


def test_anchor_strata_prefer_labels_then_task_then_length():
    [failing(i, "x") for i in range(2)]
    from tests.fixtures.datasets.workspace import passing

    p = [passing(1, label="lab"), passing(2, task="t"), passing(3), passing(4, words=20), passing(5, words=60)]
    from pathlib import Path

    from ftui.core.logs.items import Item

    def mk(r):
        return Item(
            r["question_id"],
            r["question"],
            r["answer"],
            None,
            "correct",
            True,
            r.get("failure_label"),
            None,
            None,
            (),
            None,
            r.get("task"),
            1,
            Path("x"),
        )

    assert [anchor_stratum(mk(r)) for r in p] == [
        "lab",
        "task:t",
        "length:short",
        "length:medium",
        "length:long",
    ]
    chosen = select_anchors([mk(r) for r in p], 3, seed=0)
    assert len({anchor_stratum(c) for c in chosen}) == 3


def test_split_is_deterministic_stratified_and_disjoint(ws, tmp_path):
    b1 = builder.build(ws)
    m = b1.manifest
    assert set(m["train_ids"]).isdisjoint(m["eval_ids"])
    assert len(m["eval_ids"]) == 3  # round(0.15 * 23)
    assert m["per_cluster"]["wrong_symbol"]["eval"] >= 1 and m["per_cluster"]["hallucination"]["eval"] >= 1
    # Same seed in a copy of the workspace with the log lines shuffled: the same split.
    rows = default_rows()[::-1]
    ws2 = make_workspace(tmp_path / "ws2", rows)
    write_default_corrections(ws2)
    assert builder.build(ws2).manifest["eval_ids"] == m["eval_ids"]
    seeds = {tuple(builder.build(ws, seed=s).manifest["eval_ids"]) for s in range(6)}
    assert len(seeds) > 1


def test_heldout_applies_to_anchors_and_keeps_a_training_example_per_stratum(ws):
    m = builder.build(ws, heldout=0.5).manifest
    assert set(m["eval_ids"]) & set(m["anchor_ids"])
    assert set(m["train_ids"]) & set(m["anchor_ids"])
    assert m["per_cluster"]["hallucination"]["train"] >= 1
    m0 = builder.build(ws, heldout=0, validation=0).manifest
    assert m0["eval_ids"] == [] and len(m0["train_ids"]) == 23


def test_dpo_pairs_chosen_correction_rejected_original_identical_dropped(ws):
    b = builder.build(ws)
    m = b.manifest
    pairs = b.rows("dpo_train") + b.rows("dpo_validation") + b.rows("dpo_eval")
    assert "wrong_symbol-0" not in m["dpo_ids"]
    assert m["dpo_dropped"] == [{"id": "wrong_symbol-0", "reason": "chosen_equals_rejected"}]
    assert m["counts"]["dpo_dropped_identical"] == 1
    assert len(pairs) == 14 and not set(m["dpo_ids"]) & set(m["anchor_ids"])
    log = load_run_log(ws)
    store = CorrectionStore(ws)
    for p in pairs:
        it = log.by_id[p["id"]]
        assert p["prompt"] == messages_for(it, ws.prompt)
        assert p["chosen"] == [{"role": "assistant", "content": store.get(it.id).output}]
        assert p["rejected"] == [{"role": "assistant", "content": it.answer}]
    # DPO follows the SFT split: a held-out correction's pair is held out too.
    assert {p["id"] for p in b.rows("dpo_eval")} <= set(m["eval_ids"])
    assert {p["id"] for p in b.rows("dpo_train")} <= set(m["train_ids"])
    assert {p["id"] for p in b.rows("dpo_validation")} <= set(m["validation_ids"])


def test_same_inputs_same_hash_and_folder_changed_input_new_build(ws):
    b1 = builder.build(ws)
    b2 = builder.build(ws)
    assert b1.manifest["hash"] == b2.manifest["hash"] and b1.dir == b2.dir
    assert b1.id == b1.manifest["hash"][:12] == b1.dir.name
    assert sorted(p.name for p in b1.dir.iterdir()) == [
        "dpo_eval.jsonl",
        "dpo_train.jsonl",
        "dpo_validation.jsonl",
        "eval.jsonl",
        "manifest.json",
        "train.jsonl",
        "validation.jsonl",
    ]
    assert not [p for p in ws.state.builds.iterdir() if p.name.startswith(".")]  # no temp folder left
    row = next(r for r in default_rows() if r["question_id"] == "wrong_symbol-1")
    CorrectionStore(ws).save(item(row), "a different fix")
    b3 = builder.build(ws)
    assert b3.id != b1.id
    assert build_store.load_build(ws).id == b3.id
    assert {b.id for b in build_store.list_builds(ws)} == {b1.id, b3.id}
    assert build_store.load_build(ws, b1.id[:6]).id == b1.id


def test_corrections_for_ids_gone_from_the_log_are_reported(ws):
    CorrectionStore(ws).save(item({"question_id": "gone-1", "answer": "x"}), "fixed")
    miss = next(r for r in default_rows() if r["question_id"] == "miss-1")
    CorrectionStore(ws).save(item(miss), "a fix for a retrieval miss")
    m = builder.build(ws).manifest
    assert {"id": "gone-1", "cluster": None, "reason": "not_in_run_log"} in m["discarded"]
    assert {"id": "miss-1", "cluster": None, "reason": "not_a_model_failure"} in m["discarded"]
    assert "miss-1" not in m["train_ids"] + m["eval_ids"]


def test_cluster_filter_and_unknown_cluster(ws):
    m = builder.build(ws, clusters=["hallucination"]).manifest
    assert m["target_clusters"] == ["hallucination"]
    assert set(m["per_cluster"]) == {"hallucination"}
    assert not any(i.startswith("wrong_symbol") for i in m["train_ids"] + m["eval_ids"])
    assert len(m["anchor_ids"]) == 3  # round(0.5 * 5)
    with pytest.raises(build_store.BuildError, match="unknown cluster 'nope'"):
        builder.build(ws, clusters=["nope"])


def test_benchmark_items_never_enter_training(tmp_path):
    rows = default_rows()
    bench = [dict(rows[3]), dict(failing(2, "hallucination"), question_id="bench-77")]  # same id; same prompt
    bench.append({"question_id": "ok-1", "question": "q", "answer": "a", "grade": "correct"})
    ws = make_workspace(tmp_path / "ws", rows, benchmark=bench)
    write_default_corrections(ws)
    m = builder.build(ws, exclude_ids=["wrong_symbol-5"]).manifest
    used = set(m["train_ids"]) | set(m["eval_ids"])
    for bad in ("wrong_symbol-3", "hallucination-2", "wrong_symbol-5", "ok-1"):
        assert bad not in used
    assert {"wrong_symbol-3", "hallucination-2", "wrong_symbol-5", "ok-1"} <= set(m["benchmark_excluded_ids"])
    reasons = {d["id"]: d["reason"] for d in m["discarded"]}
    assert reasons["wrong_symbol-3"] == reasons["hallucination-2"] == "in_benchmark"


def test_prompt_completion_option_and_bad_options(ws):
    b = builder.build(ws, formats=["prompt-completion"])
    pc = b.rows("train_pc")
    assert len(pc) == len(b.rows("train"))
    for r, s in zip(pc, b.rows("train"), strict=False):
        assert r["prompt"] + r["completion"] == s["messages"]
    assert b.manifest["options"]["formats"] == ["chat", "prompt-completion"]
    with pytest.raises(build_store.BuildError, match="unknown build option"):
        builder.build(ws, heldoot=0.2)
    with pytest.raises(build_store.BuildError, match="heldout"):
        builder.build(ws, heldout=1.5)


def test_load_build_without_builds_is_a_clear_error(tmp_path):
    ws = make_workspace(tmp_path / "empty")
    with pytest.raises(build_store.BuildError, match="no builds yet"):
        build_store.load_build(ws)


def test_same_prompt_under_two_ids_stays_on_one_side_of_the_split(tmp_path):
    rows = default_rows()
    # hallucination-0..4 get the exact question and evidence of wrong_symbol-0..4.
    by_id = {r["question_id"]: r for r in rows}
    for i in range(5):
        by_id[f"hallucination-{i}"]["question"] = by_id[f"wrong_symbol-{i}"]["question"]
    ws = make_workspace(tmp_path / "ws", rows)
    write_default_corrections(ws)
    moved = 0
    for seed in range(5):
        # The evidence split would already keep these twins together (same snippet): test the prompt rule alone.
        b = builder.build(ws, seed=seed, heldout=0.3, split_by_evidence=False)
        moved += b.manifest["counts"]["heldout_moved_same_prompt"]
        log = load_run_log(ws)
        from ftui.core.workspace.prompts import user_text

        train_prompts = {user_text(log.by_id[i], ws.prompt) for i in b.manifest["train_ids"]}
        assert not any(user_text(log.by_id[i], ws.prompt) in train_prompts for i in b.manifest["eval_ids"])
    assert moved > 0  # the rule was needed, not just lucky


def test_heldout_items_share_no_evidence_snippet_with_training(tmp_path):
    rows = default_rows()
    by_id = {r["question_id"]: r for r in rows}
    # Two questions about each of f0..f5: a correction and a passing item on the same code.
    for i in range(6):
        by_id[f"ok-{i}"]["evidence_text"] = by_id[f"wrong_symbol-{i}"]["evidence_text"] + "\n    return None"
    ws = make_workspace(tmp_path / "ws", rows)
    write_default_corrections(ws)
    log = load_run_log(ws)

    def straddling(m) -> list[str]:
        seen = set().union(*(heldout_split.evidence_keys(log.by_id[i]) for i in m["train_ids"]))
        return [i for i in m["eval_ids"] if heldout_split.evidence_keys(log.by_id[i]) & seen]

    mixed = 0
    for seed in range(6):
        grouped = builder.build(ws, seed=seed, heldout=0.3).manifest
        assert grouped["options"]["split_by_evidence"] is True
        assert straddling(grouped) == []
        assert grouped["eval_ids"], "whole groups still fill the held-out split"
        assert grouped["per_cluster"]["hallucination"]["train"] >= 1
        mixed += len(straddling(builder.build(ws, seed=seed, heldout=0.3, split_by_evidence=False).manifest))
    assert mixed > 0  # without the rule these pairs do straddle the split


def test_preserve_keeps_other_clusters_as_kl_only_rows_away_from_the_heldout_split(ws):
    log = load_run_log(ws)
    off = builder.build(ws, ["wrong_symbol"], heldout=0.3)
    assert off.manifest["preserve_ids"] == [] and off.manifest["counts"]["preserve"] == 0
    assert not any(r["kind"] == "preserve" for r in off.rows("train")) and off.rows("preserve") == []

    b = builder.build(ws, ["wrong_symbol"], heldout=0.3, preserve=True)
    m = b.manifest
    assert m["options"]["preserve"] is True and b.id != off.id
    rows = {r["id"]: r for r in b.rows("preserve")}
    assert set(rows) == set(m["preserve_ids"]) and rows
    assert all(r["kind"] == "preserve" for r in rows.values())
    # Not in train.jsonl, which exports and hosted uploads read: these answers are wrong.
    assert not any(r["kind"] == "preserve" for r in b.rows("train"))
    assert m["counts"]["train"] == len(b.rows("train"))
    # The other cluster's failures, with the answer the model gave (held as it is, not corrected).
    assert all(i.startswith("hallucination-") for i in rows)
    for i, r in rows.items():
        assert r["messages"][-1]["content"] == log.by_id[i].answer
    assert not set(rows) & set(m["train_ids"]) and not set(rows) & set(m["eval_ids"])
    assert not any(r["kind"] == "preserve" for r in b.rows("eval"))
    assert not set(rows) & set(m["dpo_ids"])
    # hallucination-i shares its snippet with wrong_symbol-i: left out when that one is held out.
    held = set(m["eval_ids"])
    dropped = {f"hallucination-{i}" for i in range(8) if f"wrong_symbol-{i}" in held}
    assert dropped and set(m["preserve_dropped_ids"]) == dropped
    assert set(rows) == {f"hallucination-{i}" for i in range(8)} - dropped
    assert m["counts"]["preserve"] == len(rows) and m["counts"]["preserve_dropped_shared_evidence"] == len(dropped)


def test_evidence_keys_ignore_file_headers_and_short_lines():
    from types import SimpleNamespace

    it = SimpleNamespace(
        evidence_text="# File: larder/storage/db.py\ndef connect(path=DB_FILENAME):\n    return conn\n"
    )
    assert heldout_split.evidence_keys(it) == {"def connect(path=DB_FILENAME):"}
    assert heldout_split.evidence_keys(SimpleNamespace(evidence_text=None)) == set()


def test_a_failed_write_leaves_no_build_behind(ws, monkeypatch):
    from ftui.core.base import fsutil

    def boom(path, data):
        raise OSError("disk full")

    monkeypatch.setattr(fsutil, "atomic_write_json", boom)
    with pytest.raises(OSError):
        builder.build(ws)
    assert [p.name for p in ws.state.builds.iterdir()] == []


def test_check_build_uses_heldout_and_benchmark(ws, tiny_model_dir):
    from ftui.core.base.tokens import ChatTokenizer
    from ftui.core.build import checks

    b = builder.build(ws)
    r = checks.check_build(b, ws, tokenizer=ChatTokenizer.from_dir(tiny_model_dir))
    assert r.examples == len(b.manifest["train_ids"]) and r.tokens["count"] == r.examples
    assert r.tokens["max_length"] == 1024
    assert r.errors == []


def test_three_roles_are_disjoint_and_validation_comes_from_the_training_side(ws):
    m = builder.build(ws, validation=0.2).manifest
    train, valid, test = set(m["train_ids"]), set(m["validation_ids"]), set(m["eval_ids"])
    assert valid and not (train & valid) and not (train & test) and not (valid & test)
    # The test split is the one a build without validation makes: adding validation never changes what judges.
    assert test == set(builder.build(ws, validation=0).manifest["eval_ids"])
    assert (
        m["counts"]["validation"]
        == len(valid)
        == m["counts"]["validation_corrections"] + m["counts"]["validation_anchors"]
    )
    b = build_store.load_build(ws, m["build_id"])
    assert {r["id"] for r in b.rows("validation")} == valid
    # Small strata: each keeps a training item, and test is filled before validation.
    for s in m["per_cluster"].values():
        assert s["train"] >= 1


def test_split_roles_rule_for_small_strata():
    from ftui.core.logs.items import Item

    def ex(i, stratum):
        it = Item(f"{stratum}-{i}", f"q {i}", "a", "e", "ok", True, None, None, None, (), None, None, i, Path("x"))
        return build_plan.Example(it, "correction", stratum, "t", stratum)

    for n, want in ((1, (1, 0, 0)), (2, (1, 0, 1)), (3, (1, 1, 1))):
        train, valid, test = heldout_split.split_roles([ex(i, "s") for i in range(n)], 0.4, 0.3, seed=0)
        assert (len(train), len(valid), len(test)) == want, n
