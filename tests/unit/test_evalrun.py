import json

import pytest

from ftui.core.build.store import targeted_cluster
from ftui.core.judge import evalrun
from ftui.core.judge.evalrun import EvalError, eval_state, plan_eval, training_ids, write_plan
from tests.fixtures.eval_run import MANIFEST, make_eval_workspace


@pytest.fixture
def eval_ws(tmp_path):
    adapter = tmp_path / "adapter-src"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    return make_eval_workspace(tmp_path / "ws", tmp_path / "no-model-needed", adapter)


def test_targeted_cluster_is_the_one_with_most_corrections():
    assert targeted_cluster(MANIFEST) == "wrong_symbol"
    assert targeted_cluster({"per_cluster": {"a": {"corrected": 1}, "b": {"corrected": 3}}}) == "b"
    assert targeted_cluster({"target_clusters": ["x"]}) == "x"
    assert targeted_cluster({}) is None


def test_training_ids_keep_heldout_items_in_the_benchmark():
    ids = training_ids(MANIFEST)
    assert ids == {"wrong_symbol-0", "wrong_symbol-1", "wrong_symbol-2", "ok-0", "hallucination-0"}
    assert "wrong_symbol-3" not in ids and "ok-1" not in ids


def test_preserved_ids_count_as_trained_only_for_a_run_with_anchor_kl():
    manifest = {**MANIFEST, "preserve_ids": ["other-1", "other-2"]}
    plain = training_ids(manifest)
    assert plain == training_ids(MANIFEST)
    assert training_ids(manifest, {"method": "sft", "anchor_kl": 0.0}) == plain
    assert training_ids(manifest, {"method": "dpo", "anchor_kl": 0.0}) == plain
    # SFT and DPO alike hold the preserved rows to the base through the KL term.
    assert training_ids(manifest, {"method": "sft", "anchor_kl": 10.0}) == plain | {"other-1", "other-2"}
    assert training_ids(manifest, {"method": "dpo", "anchor_kl": 10.0}) == plain | {"other-1", "other-2"}


def test_plan_excludes_training_ids_and_labels_clusters(eval_ws):
    ws, run_dir = eval_ws
    plan = plan_eval(ws, run_dir)
    ids = [it["id"] for it in plan.items]
    assert set(plan.excluded_ids) == training_ids(MANIFEST)
    assert "wrong_symbol-3" in ids and "ok-1" in ids and "wrong_symbol-0" not in ids
    by = {it["id"]: it for it in plan.items}
    assert by["wrong_symbol-4"]["cluster"] == "wrong_symbol"
    assert by["ok-2"]["cluster"] == "passing"
    assert by["miss-1"]["cluster"] == "retrieval_miss"
    assert by["ok-2"]["messages"][1]["content"].startswith("Evidence:\n")
    assert by["ok-2"]["grader"] == {"kind": "contains"}
    cfg = plan.config
    assert cfg["targeted_cluster"] == "wrong_symbol" and cfg["benchmark_size"] == 14
    assert (
        cfg["adapter"].endswith("adapter") and cfg["max_new_tokens"] == 16 and cfg["dataset_hash"] == MANIFEST["hash"]
    )
    d = write_plan(plan)
    assert json.loads((d / "config.json").read_text())["run_id"] == run_dir.name
    assert len((d / "items.jsonl").read_text().splitlines()) == len(plan.items) == 9


def test_limit_samples_every_cluster_in_proportion(eval_ws):
    ws, run_dir = eval_ws
    full = plan_eval(ws, run_dir).items
    clusters = {it["cluster"] for it in full}
    plan = plan_eval(ws, run_dir, limit=len(clusters))
    # Not the first N (the log lists the targeted cluster first): one item of each cluster.
    assert sorted(it["cluster"] for it in plan.items) == sorted(clusters)
    again = plan_eval(ws, run_dir, limit=len(clusters))
    assert [it["id"] for it in again.items] == [it["id"] for it in plan.items]


def test_only_ids_keeps_just_those_items(eval_ws):
    ws, run_dir = eval_ws
    full = plan_eval(ws, run_dir).items
    keep = {full[0]["id"], full[-1]["id"], "not-an-item"}
    assert {it["id"] for it in plan_eval(ws, run_dir, only_ids=keep).items} == keep - {"not-an-item"}


def test_stratified_sample_proportions_and_order():
    items = [{"id": f"a{i}", "cluster": "a", "question": "q"} for i in range(30)]
    items += [{"id": f"b{i}", "cluster": "b", "question": "q"} for i in range(10)]
    items += [{"id": "c0", "cluster": "c", "question": "q " * 50}]
    got = evalrun.stratified_sample(items, 9)
    by = {c: sum(it["cluster"] == c for it in got) for c in "abc"}
    # One each first, then the 6 left in proportion to the 29 and 9 spare items: 4.6 -> 5, 1.4 -> 1.
    assert by == {"a": 6, "b": 2, "c": 1}
    assert [it["id"] for it in got] == [it["id"] for it in items if it in got]  # benchmark order kept
    assert evalrun.stratified_sample(items, 100) == items
    assert len(evalrun.stratified_sample(items, 2)) == 2


def test_validation_ids_are_never_graded():
    manifest = {**MANIFEST, "validation_ids": ["wrong_symbol-4", "ok-2"]}
    assert {"wrong_symbol-4", "ok-2"} <= training_ids(manifest)
    roles = evalrun.roles(manifest, None, ["wrong_symbol-3", "ok-1"])
    assert roles["selection"] == "validation" and roles["graded_and_selected"] == []
    assert roles["validation_ids"] == ["ok-2", "wrong_symbol-4"]
    # A build from before the split chose its checkpoint on the held-out items: the report says so.
    legacy = evalrun.roles(MANIFEST, None, list(MANIFEST["eval_ids"]))
    assert legacy["graded_and_selected"] == sorted(MANIFEST["eval_ids"])


def test_run_without_adapter_is_refused(tmp_path):
    ws, run_dir = make_eval_workspace(tmp_path / "ws", tmp_path / "m")
    with pytest.raises(EvalError, match="no adapter yet"):
        plan_eval(ws, run_dir)


def test_eval_state_from_events(eval_ws):
    from ftui.core.base.events import EventWriter

    ws, run_dir = eval_ws
    assert eval_state(run_dir).state == "none"
    d = write_plan(plan_eval(ws, run_dir))
    (d / "pid").write_text("999999999\n")
    with EventWriter(d / "events.jsonl") as w:
        w.emit("started", items=9, sides=["base", "tuned"])
        w.emit("progress", side="base", done=4, total=9, cached=4)
    st = eval_state(run_dir)
    assert st.state == "dead" and st.progress["base"] == {"done": 4, "total": 9, "cached": 4}
    with EventWriter(d / "events.jsonl") as w:
        w.emit("failed", error="RuntimeError: boom", traceback_tail=[], hint="lower eval.batch_size")
    st = eval_state(run_dir)
    assert st.state == "failed" and st.error == "RuntimeError: boom" and st.hint == "lower eval.batch_size"
    # A new plan clears the previous evaluation's events.
    write_plan(plan_eval(ws, run_dir))
    assert not (d / "events.jsonl").exists()
    assert evalrun.eval_state(run_dir).state == "dead"
