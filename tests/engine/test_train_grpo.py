"""GRPO end to end through the detached child on the tiny random model: the grader as the reward,
its figures in the log events, the sampled answers as `samples` events, cancel and resume."""

from __future__ import annotations

import json

import pytest

from ftui.core.base import events, jobs
from ftui.core.runs import runs
from ftui.core.runs.fold import fold_run
from tests.engine.train_support import all_events, start, tiny_workspace, wait_final, wait_step

pytestmark = pytest.mark.slow

# Few steps, a group of 4 answers of at most 6 tokens: seconds per run on a CPU.
TINY_GRPO = {
    "method": "grpo",
    "num_generations": 4,
    "max_completion_length": 6,
    "save_steps": 2,
    "eval_steps": 2,
    "learning_rate": 1e-3,
}


def test_grpo_run_logs_reward_and_samples(tmp_path, tiny_model_dir):
    ws = tiny_workspace(tmp_path, tiny_model_dir, max_steps=3, **TINY_GRPO)
    run_dir = start(ws)
    final = wait_final(run_dir)
    assert final["type"] == "finished", final
    evs = all_events(run_dir)
    for ev in evs:
        events.validate(ev)
    started = next(e for e in evs if e["type"] == "started")
    assert started["method"] == "grpo" and started["train_size"] == 12
    logs = [e for e in evs if e["type"] == "log"]
    assert [e["step"] for e in logs] == [1, 2, 3]
    for e in logs:
        assert 0.0 <= e["reward"] <= 1.0
        assert 0.0 <= e["frac_reward_zero_std"] <= 1.0
        assert "reward_std" in e and 0 < e["completion_length"] <= 6
        assert "kl" in e  # the KL weight is on by default
        assert set(e["cluster_reward"]) <= {"c1", "c2"} and e["cluster_reward"]
    samples = [e for e in evs if e["type"] == "samples"]
    assert [e["step"] for e in samples] == [1, 2, 3]
    for e in samples:
        # one group, each answer with the grader's verdict as its reward and the grader's reason
        assert len(e["samples"]) == 4
        for s in e["samples"]:
            assert s["reward"] == (1.0 if "e" in s["answer"].lower() else 0.0)
            assert s["reason"].startswith("answer contains" if s["reward"] else "answer does not contain")
    f = fold_run(evs)
    assert [s for s, _ in f.rewards] == [1, 2, 3] and f.samples == samples[-1]
    assert (run_dir / "adapter" / "adapter_model.safetensors").exists()


def test_grpo_cancel_and_resume(tmp_path, tiny_model_dir):
    ws = tiny_workspace(tmp_path, tiny_model_dir, max_steps=200, **TINY_GRPO)
    run_dir = start(ws)
    wait_step(run_dir, 2)
    assert jobs.request_stop(run_dir)
    final = wait_final(run_dir, timeout=60)
    assert final["type"] == "cancelled", final
    step = final["step"]
    assert final["checkpoint"].endswith(f"checkpoint-{step}")
    n_before = len(all_events(run_dir))
    cfg = json.loads((run_dir / "config.json").read_text())
    cfg["max_steps"] = step + 2
    (run_dir / "config.json").write_text(json.dumps(cfg))
    runs.start_training(run_dir, resume=True)
    final2 = wait_final(run_dir)
    assert final2["type"] == "finished", final2
    resumed = all_events(run_dir)[n_before:]
    assert next(e for e in resumed if e["type"] == "started")["resumed_from"].endswith(f"checkpoint-{step}")
    assert [e["step"] for e in resumed if e["type"] == "log"] == [step + 1, step + 2]
    assert all("reward" in e for e in resumed if e["type"] == "log")
