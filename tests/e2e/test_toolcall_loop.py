"""A tool-call cluster through the whole loop: reviewed call corrections imported, a build with
tools and tool_calls, a LoRA run in a detached child, the evaluation graded by the tool_call
grader. A tiny random model: this proves the loop runs on calls, not that the fine-tune works."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftui.core import runs
from ftui.sample.demo import run_demo
from tests.fixtures.toolcalls import workspace as agents_ws


@pytest.mark.slow
def test_tool_call_cluster_correct_build_train_eval(tmp_path, tiny_model_dir):
    extra = (
        f"model: {tiny_model_dir}\n"
        "build: {heldout: 0.4, validation: 0.0, anchor_ratio: 0.0, max_length: 1024}\n"
        "train: {max_steps: 2, batch_size: 2, eval_steps: 1, save_steps: 1, lora_r: 4, lora_alpha: 8, "
        "max_length: 1024, device: cpu}\n"
        "eval: {grader: {kind: tool_call, arguments: equal}, max_new_tokens: 24, batch_size: 4}\n"
    )
    ws = agents_ws.make(tmp_path / "agents", tools=agents_ws.TOOLS[:1], agent=False, extra=extra)
    result = run_demo(ws.root, method="sft", max_steps=2, log=lambda s: None)
    assert result.cluster == "prose_instead_of_call"
    assert runs.read_state(result.run_dir).state == "finished"
    build_dir = Path(runs.read_run_config(result.run_dir)["build_dir"])
    train = [json.loads(x) for x in (build_dir / "train.jsonl").read_text().splitlines()]
    assert train and all(r["tools"] == agents_ws.TOOLS[:1] for r in train)
    assert all(r["messages"][-1]["tool_calls"][0]["function"]["name"] == "get_weather" for r in train)
    rep = result.report
    assert rep["targeted"]["total"] > 0
    items = rep["items"]
    assert items and all(it["base_grade"]["grader"] == "tool_call" for it in items)
    # The reason the Compare pane shows beside each side's answer.
    assert all(it["tuned_grade"]["reason"] for it in items)
