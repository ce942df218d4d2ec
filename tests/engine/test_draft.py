"""The local teacher: the workspace's own model drafts with the continuous-batching decoder, cached by prompt."""

from __future__ import annotations

import json

from ftui.core.base.events import read_events
from ftui.core.curate.clusters import cluster_failures
from ftui.core.curate.corrections import CorrectionStore
from ftui.core.curate.drafts import job as draft_job
from ftui.core.curate.drafts import store as draft_store
from ftui.core.curate.drafts import teacher as draft_teacher
from ftui.core.logs.runlog import load_run_log
from ftui.core.workspace.workspace import Workspace
from ftui.engine.curate import draft as engine_draft
from ftui.engine.infer.generate import load_for_generation
from tests.tui.workspace_factory import make_workspace


def test_local_teacher_drafts_grades_and_caches(tiny_model_dir, tmp_path):
    root = make_workspace(tmp_path / "ws", 30, extra_config=f"model: {tiny_model_dir}\n")
    ws = Workspace.load(root)
    log = load_run_log(ws)
    cluster = cluster_failures(ws, log).by_label("wrong_symbol")
    first = cluster.items[0]
    CorrectionStore(ws).save(first, first.expected)
    teacher = draft_teacher.Teacher(draft_teacher.LOCAL, ws.model)
    plan = draft_job.plan_drafts(ws, cluster, teacher)
    assert plan.examples == [first.id]
    job = draft_job.write_job(ws, plan, concurrency=1, max_new_tokens=12, batch_size=4)

    assert engine_draft.main(job) == 0
    drafts = draft_store.DraftStore(ws).all()
    assert set(drafts) == {it["id"] for it in plan.items}
    # The drafts are the model's greedy answers to the teacher chats, graded by the item's grader.
    gen = load_for_generation(str(tiny_model_dir))
    want = gen.generate([it["messages"] for it in plan.items], adapter=False, max_new_tokens=12, batch_size=1)
    for it, answer in zip(plan.items, want, strict=True):
        d = drafts[it["id"]]
        assert d.output == answer
        assert d.teacher == f"local:{tiny_model_dir}" and d.prompt_hash == it["prompt_hash"]
        assert d.passed == (log.by_id[it["id"]].expected in answer) and d.grader == "contains"
    evs, _ = read_events(job / draft_job.EVENTS)
    assert evs[-1]["type"] == "finished" and evs[-1]["generated"] == len(plan.items)

    # The same prompts again: every answer comes from the cache, nothing is generated or rewritten.
    again = draft_job.write_job(
        ws, draft_job.plan_drafts(ws, cluster, teacher, redraft=True), concurrency=1, max_new_tokens=12
    )
    assert engine_draft.main(again, generator_factory=lambda: (_ for _ in ()).throw(AssertionError("loaded"))) == 0
    evs, _ = read_events(again / draft_job.EVENTS)
    assert evs[-1]["generated"] == 0 and evs[-1]["cached"] == len(plan.items)
    assert draft_store.DraftStore(ws).all() == drafts
    assert json.loads((job / draft_job.CONFIG).read_text())["teacher"]["kind"] == "local"
