"""Graded probes in the training child, on a tiny random Llama (CPU)."""

from __future__ import annotations

import json

import pytest

from ftui.core.base import events, jobs
from ftui.core.runs import probes, runs
from ftui.engine.train.callback import BestTracker
from tests.engine.train_support import all_events, tiny_workspace, wait_final, wait_step
from tests.fixtures.tiny_build import _messages

GRADER = {"kind": "contains"}


def _probe_set(n_cluster: int = 2, n_anchor: int = 2) -> dict:
    items = []
    for i in range(n_cluster):
        prompt, good, _ = _messages(2000 + i)
        items.append({"id": f"v{i}", "role": "cluster", "messages": prompt, "expected": good, "grader": GRADER})
    for i in range(n_anchor):
        prompt, _, _ = _messages(3000 + i)
        # A random model never says this: every anchor probe reads as broken.
        items.append({"id": f"a{i}", "role": "anchor", "messages": prompt, "expected": "zebra", "grader": GRADER})
    return {"target": "c1", "max_new_tokens": 6, "batch_size": 4, "items": items}


def _start(ws, probe_set, **overrides):
    run_dir = runs.create_run(ws, runs.latest_build_dir(ws), overrides)
    probes.write(run_dir, probe_set)
    runs.start_training(run_dir)
    return run_dir


pytestmark = pytest.mark.slow


def test_probe_events_at_each_eval_step(tmp_path, tiny_model_dir):
    ws = tiny_workspace(tmp_path, tiny_model_dir, max_steps=8, eval_steps=4, save_steps=4)
    run_dir = _start(ws, _probe_set())
    final = wait_final(run_dir)
    assert final["type"] == "finished", final
    evs = all_events(run_dir)
    for ev in evs:
        events.validate(ev)
    got = [e for e in evs if e["type"] == "probe"]
    assert [e["step"] for e in got] == [4, 8]
    for e in got:
        assert e["cluster_total"] == 2 and e["anchors_total"] == 2
        assert e["anchors_passed"] == 0 and e["broken"] == 2 and sorted(e["broken_ids"]) == ["a0", "a1"]
        assert e["fixed"] == e["cluster_passed"] == len(e["fixed_ids"])
        assert e["seconds"] > 0
    # Every probe comes right after the eval of its step.
    kinds = [(e["type"], e.get("step")) for e in evs if e["type"] in ("eval", "probe")]
    assert kinds == [("eval", 4), ("probe", 4), ("eval", 8), ("probe", 8)]
    assert final["select_by"] == "eval_loss"


def test_broken_anchors_stop_training_early(tmp_path, tiny_model_dir):
    ws = tiny_workspace(tmp_path, tiny_model_dir, max_steps=40, eval_steps=4, save_steps=4, stop_broken_anchors=2)
    run_dir = _start(ws, _probe_set())
    final = wait_final(run_dir)
    assert final["type"] == "finished" and final["step"] == 4 and final["early_stopped"], final
    stop = next(e for e in all_events(run_dir) if e["type"] == "early_stop")
    assert stop["reason"] == "broken_anchors" and sorted(stop["broken_ids"]) == ["a0", "a1"]


def test_resume_keeps_the_probe_history(tmp_path, tiny_model_dir):
    ws = tiny_workspace(tmp_path, tiny_model_dir, max_steps=400, eval_steps=2, save_steps=2, select_by="probes")
    run_dir = _start(ws, _probe_set(n_anchor=1))
    wait_step(run_dir, 3, timeout=180)
    jobs.request_stop(run_dir)
    final = wait_final(run_dir, timeout=120)
    assert final["type"] == "cancelled", final
    before = [e for e in all_events(run_dir) if e["type"] == "probe"]
    assert before and before[0]["step"] == 2
    cfg = json.loads((run_dir / "config.json").read_text())
    cfg["max_steps"] = final["step"] + 2
    (run_dir / "config.json").write_text(json.dumps(cfg))
    runs.start_training(run_dir, resume=True)
    final2 = wait_final(run_dir)
    assert final2["type"] == "finished", final2
    after = [e for e in all_events(run_dir) if e["type"] == "probe"]
    # The earlier session's probes are still in the stream, followed by the resumed ones.
    assert after[: len(before)] == before and after[-1]["step"] == final["step"] + 2
    assert final2["select_by"] == "probes"


def test_best_tracker_selects_by_probes_and_rebuilds_from_events():
    def probe(step, fixed, broken):
        return {"type": "probe", "step": step, "fixed": fixed, "broken": broken}

    evs = [
        {"type": "eval", "step": 4, "eval_loss": 1.0},
        probe(4, 1, 0),
        {"type": "eval", "step": 8, "eval_loss": 0.5},  # lower loss, but two anchors broken
        probe(8, 2, 2),
        {"type": "eval", "step": 12, "eval_loss": 0.9},
        probe(12, 3, 0),
        {"type": "eval", "step": 16, "eval_loss": 0.8},  # same net as step 12, lower loss: wins the tie
        probe(16, 3, 0),
    ]
    by_probes = BestTracker.from_events(evs, patience=5, select_by="probes")
    assert by_probes.best_step == 16 and by_probes.best_loss == 0.8 and by_probes.bad == 0
    by_loss = BestTracker.from_events(evs, patience=5)
    assert by_loss.best_step == 8 and by_loss.bad == 2
    # Without probes the probe setting falls back to eval loss.
    plain = BestTracker.from_events([e for e in evs if e["type"] == "eval"], patience=5, select_by="probes")
    assert plain.best_step == 8


def test_dpo_guard_adds_the_chosen_nll_term():
    from types import SimpleNamespace

    from ftui.core.workspace.settings import TrainConfig
    from ftui.engine.train.run import training_args

    plan = SimpleNamespace(bf16=False, fp16=False, gradient_checkpointing=False, device="cpu")
    plain = training_args(TrainConfig(method="dpo"), plan, "/tmp/x", has_eval=False)
    assert plain.loss_type == ["sigmoid"]
    guarded = training_args(TrainConfig(method="dpo", rpo_alpha=0.5), plan, "/tmp/x", has_eval=False)
    assert guarded.loss_type == ["sigmoid", "sft"] and guarded.loss_weights == [1.0, 0.5]


def test_dpo_run_with_the_chosen_nll_term(tmp_path, tiny_model_dir):
    from tests.engine.train_support import start

    ws = tiny_workspace(tmp_path, tiny_model_dir, method="dpo", max_steps=2, eval_steps=2, save_steps=2, rpo_alpha=1.0)
    run_dir = start(ws)
    final = wait_final(run_dir)
    assert final["type"] == "finished", final
    logs = [e for e in all_events(run_dir) if e["type"] == "log"]
    # The reference is the base itself, so the DPO part starts at log(2); the NLL of the chosen
    # answers under a random model comes on top of it.
    assert logs[0]["loss"] > 0.6931 + 1.0
