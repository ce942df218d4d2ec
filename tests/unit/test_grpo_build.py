"""A rewards build (GRPO): every failure of the targets becomes a prompt with its own grader, no
correction needed; held-out and validation items stay apart as in every build."""

from __future__ import annotations

import pytest

from ftui.core.base.errors import InputError
from ftui.core.build import builder
from ftui.core.build.files import train_file
from ftui.core.grade.grading import spec_for
from ftui.core.logs.runlog import load_run_log
from ftui.core.runs import runs
from ftui.core.workspace.prompts import messages_for
from tests.fixtures.datasets.workspace import make_workspace, write_default_corrections


@pytest.fixture
def ws(tmp_path):
    w = make_workspace(tmp_path / "ws")
    write_default_corrections(w)
    return w


def test_rewards_build_takes_every_failure_with_its_grader(ws):
    b = builder.build(ws, ["hallucination"], rewards=True)
    m = b.manifest
    # hallucination-5..7 are stale or uncorrected: a corrections build discards them, this one keeps them.
    assert not [d for d in m["discarded"] if d["cluster"] == "hallucination"]
    ids = set(m["train_ids"]) | set(m["validation_ids"]) | set(m["eval_ids"])
    assert {f"hallucination-{i}" for i in range(8)} <= ids
    log = load_run_log(ws)
    grpo = b.rows("grpo_train")
    assert {r["id"] for r in grpo} == {i for i in m["train_ids"] if i.startswith("hallucination")}
    for row in grpo:
        it = log.by_id[row["id"]]
        assert row["prompt"] == messages_for(it, ws.prompt)
        assert row["grader"] == spec_for(ws, it) and row["expected"] == it.expected
    # held-out and validation items never train; anchors only judge and probe
    held = set(m["eval_ids"]) | set(m["validation_ids"])
    assert not held & {r["id"] for r in grpo}
    assert {r["id"] for r in b.rows("grpo_eval")} == set(m["eval_ids"])
    assert not any(r["kind"] == "anchor" for r in grpo)
    # failures without a correction have no answer to imitate: the SFT files do not hold them
    assert not any(r["kind"] == "failure" for r in b.rows("train") + b.rows("eval"))
    assert m["counts"]["grpo_train"] == len(grpo) and m["options"]["rewards"] is True
    assert "GRPO prompts" in b.summary_line()


def test_method_grpo_builds_for_rewards_and_a_corrections_build_cannot_train_it(ws, tmp_path):
    import dataclasses

    plain = builder.build(ws, ["hallucination"])
    assert "grpo_train" not in plain.manifest["files"] and "rewards" not in plain.manifest["options"]
    with pytest.raises(InputError, match=r"grpo_train\.jsonl.*train\.method: grpo"):
        runs.create_run(ws, plain, {"method": "grpo"})
    grpo_ws = dataclasses.replace(ws, train=dataclasses.replace(ws.train, method="grpo"))
    b = builder.build(grpo_ws, ["hallucination"])
    assert train_file(b.dir, "grpo").is_file() and b.id != plain.id
    run_dir = runs.create_run(grpo_ws, b)
    assert runs.read_run_config(run_dir)["method"] == "grpo"
