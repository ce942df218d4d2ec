"""Drafting with an OpenAI-compatible teacher (a local test server), end to end through the CLI."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from ftui.cli import main
from ftui.core.base import jobs
from ftui.core.build import builder
from ftui.core.curate.clusters import cluster_failures
from ftui.core.curate.corrections import CorrectionStore
from ftui.core.curate.drafts import (
    decisions as draft_decisions,
)
from ftui.core.curate.drafts import (
    job as draft_job,
)
from ftui.core.curate.drafts import (
    store as draft_store,
)
from ftui.core.curate.drafts import (
    teacher as draft_teacher,
)
from ftui.core.logs.runlog import load_run_log
from ftui.core.workspace.workspace import Workspace
from tests.fixtures.chat_server import ChatServer
from tests.tui.workspace_factory import make_workspace

CLUSTER = "wrong_symbol"
MARK = "The expected answer, from the graded log:\n"


def expected_in(body: dict) -> str:
    text = body["messages"][-1]["content"]
    return text.split(MARK, 1)[1].split("\n", 1)[0]


def teacher_reply(body: dict) -> str:
    """Right (the expected answer) for file paths under src/api or src/cache, prose otherwise."""
    want = expected_in(body)
    return want if ("cache" in want or "api" in want) else "It is somewhere in the code."


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace.load(make_workspace(tmp_path / "ws", 30))


def run(capsys, *argv) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def cluster(ws):
    return cluster_failures(ws, load_run_log(ws)).by_label(CLUSTER)


def test_teacher_prompt_holds_the_item_examples_and_instruction(ws):
    log = load_run_log(ws)
    c = cluster(ws)
    first, second = c.items[0], c.items[1]
    CorrectionStore(ws).save(first, first.expected)
    settings = draft_teacher.PromptSettings(instruction='Answer as JSON {"file_path", "symbol"}.')
    plan = draft_job.plan_drafts(ws, c, draft_teacher.Teacher(draft_teacher.LOCAL, ws.model), settings)
    assert plan.examples == [first.id]
    assert first.id not in [it["id"] for it in plan.items]  # corrected items are examples, not drafted
    msgs = next(it for it in plan.items if it["id"] == second.id)["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    assert msgs[2]["content"] == first.expected
    last = msgs[-1]["content"]
    for part in (second.question, second.answer, second.expected, settings.instruction, second.evidence_text.strip()):
        assert part in last
    # The same prompt hashes the same; another instruction does not.
    again = draft_job.plan_drafts(ws, c, draft_teacher.Teacher(draft_teacher.LOCAL, ws.model), settings)
    assert [it["prompt_hash"] for it in again.items] == [it["prompt_hash"] for it in plan.items]
    other = draft_job.plan_drafts(
        ws, c, draft_teacher.Teacher(draft_teacher.LOCAL, ws.model), draft_teacher.PromptSettings(instruction="x")
    )
    assert other.items[0]["prompt_hash"] != plan.items[0]["prompt_hash"]
    assert log.by_id[second.id].expected in draft_teacher.render("{expected}", {"expected": second.expected})
    with pytest.raises(draft_store.DraftError):
        draft_teacher.check_template("no request here")


def test_cli_drafts_grades_and_a_person_decides(ws, capsys):
    root = str(ws.root)
    n_items = len(cluster(ws).items)
    with ChatServer(teacher_reply) as server:
        code, out = run(
            capsys,
            *("draft", "run", CLUSTER, "-w", root, "--base-url", server.base_url, "--model", "teacher-x"),
            *("--concurrency", "3", "--follow", "--json"),
        )
        assert code == 0, out
        res = json.loads(out)
        assert res["items"] == n_items and res["result"]["state"] == "finished"
        assert len(server.requests) == n_items
        assert {r["body"]["model"] for r in server.requests} == {"teacher-x"}

    drafts = draft_store.DraftStore(ws).all()
    assert len(drafts) == n_items
    passing = {i for i, d in drafts.items() if d.passed}
    expected = {it.id for it in cluster(ws).items if "cache" in it.expected or "api" in it.expected}
    assert passing == expected and 0 < len(passing) < n_items
    d = next(iter(drafts.values()))
    assert d.teacher.startswith("endpoint:") and d.teacher.endswith(":teacher-x") and len(d.prompt_hash) == 16
    same = draft_job.plan_drafts(ws, cluster(ws), draft_teacher.prompt_settings(ws, CLUSTER).teacher_for(ws))
    assert same.items == [] and same.skipped["already_drafted"] == n_items
    # Drafts are not corrections: nothing reaches a build until a person accepts.
    assert CorrectionStore(ws).all() == {}
    empty = builder.build(ws, [CLUSTER]).manifest
    assert empty["counts"]["train_corrections"] == 0 and not set(empty["train_ids"]) & set(drafts)

    code, out = run(capsys, "draft", "accept", "--passing", CLUSTER, "--dry-run", "-w", root, "--json")
    assert sorted(json.loads(out)["would_accept"]) == sorted(passing)
    assert CorrectionStore(ws).all() == {}

    failing = sorted(set(drafts) - passing)
    code, out = run(capsys, "draft", "reject", failing[0], "-w", root)
    assert code == 0 and "1 drafts rejected" in out
    fixed = json.dumps({"file_path": "src/store.py", "symbol": "Store.put"})
    code, out = run(capsys, "draft", "edit", failing[1], "--text", fixed, "-w", root)
    assert code == 0 and "edited" in out
    code, out = run(capsys, "draft", "accept", "--passing", CLUSTER, "-w", root)
    assert f"{len(passing)} drafts accepted" in out

    store = CorrectionStore(ws).all()
    assert set(store) == passing | {failing[1]}
    assert store[failing[1]].output == fixed
    assert all(store[i].output == drafts[i].output for i in passing)
    after = draft_store.DraftStore(ws).all()
    assert after[failing[0]].status == "rejected" and failing[0] not in store
    assert after[failing[1]].status == "edited" and after[failing[1]].final_output == fixed
    assert {after[i].status for i in passing} == {"accepted"}
    prov = draft_decisions.provenance(ws, list(store))
    assert prov["drafted"] == len(store) and prov["edited"] == 1
    assert list(prov["teachers"]) == [d.teacher]

    # A build now holds exactly the accepted corrections.
    build = builder.build(ws, [CLUSTER])
    trained = set(build.manifest["train_ids"]) | set(build.manifest["eval_ids"])
    assert set(store) <= trained | set(build.manifest.get("discarded_ids") or [])
    assert failing[0] not in trained

    code, out = run(capsys, "draft", "list", CLUSTER, "-w", root)
    assert f"{n_items} drafts, {len(passing)} pass their grader, {n_items - len(passing) - 2} waiting" in out
    # Drafting again leaves corrected items alone and shows them to the teacher as examples.
    plan = draft_job.plan_drafts(ws, cluster(ws), draft_teacher.prompt_settings(ws, CLUSTER).teacher_for(ws))
    assert {it["id"] for it in plan.items} == set(drafts) - set(store)
    assert set(plan.examples) <= set(store) and plan.examples


def test_a_killed_job_keeps_what_it_finished_and_resumes(ws, capsys):
    root = str(ws.root)
    n_items = len(cluster(ws).items)
    gate = threading.Event()

    def slow(body):
        if len(server.requests) > 3:
            gate.wait(20)  # hold the job here until the test has killed it
        return expected_in(body)

    with ChatServer(slow) as server:
        code, out = run(
            capsys,
            *("draft", "run", CLUSTER, "-w", root, "--base-url", server.base_url, "--model", "t"),
            *("--concurrency", "1", "--json"),
        )
        job_dir = draft_job.find_job(ws, json.loads(out)["job"])
        deadline = time.monotonic() + 60
        while len(draft_store.DraftStore(ws).all()) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        finished = set(draft_store.DraftStore(ws).all())
        assert len(finished) >= 3
        os.kill(int((job_dir / "pid").read_text()), signal.SIGKILL)
        gate.set()
        deadline = time.monotonic() + 40
        while jobs.job_state(job_dir).state != "dead" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert jobs.job_state(job_dir).state == "dead"
        kept = draft_store.DraftStore(ws).all()
        assert finished <= set(kept)
        asked_before = len(server.requests)

        code, out = run(capsys, "draft", "resume", job_dir.name, "-w", root, "--follow", "--json")
        assert code == 0, out
        assert json.loads(out)["state"] == "finished" and json.loads(out)["done"] == n_items
        # Answers finished before the kill come from the cache: never asked again.
        again = [r["body"]["messages"][-1]["content"] for r in server.requests[asked_before:]]
        assert len(again) <= n_items - len(finished)
    drafts = draft_store.DraftStore(ws).all()
    assert len(drafts) == n_items and all(d.passed for d in drafts.values())
    assert all(kept[i] == drafts[i] for i in finished)  # not rewritten by the resumed job


def test_an_unreachable_teacher_fails_and_drafts_nothing(ws, capsys):
    root = str(ws.root)
    code, _ = run(
        capsys,
        *("draft", "run", CLUSTER, "-w", root, "--base-url", "http://127.0.0.1:9/v1", "--model", "t"),
        *("--follow", "--json"),
    )
    assert code == 1
    job = draft_job.list_jobs(ws)[0]
    assert job["state"] == "failed" and "Connection" in (job["error"] or "")
    assert draft_store.DraftStore(ws).all() == {}


def test_stop_cancels_between_answers_and_keeps_the_finished(ws, capsys):
    root = str(ws.root)
    gate = threading.Event()

    def slow(body):
        if len(server.requests) > 2:
            gate.wait(20)
        return expected_in(body)

    with ChatServer(slow) as server:
        code, out = run(
            capsys,
            *("draft", "run", CLUSTER, "-w", root, "--base-url", server.base_url, "--model", "t"),
            *("--concurrency", "1", "--json"),
        )
        job = json.loads(out)["job"]
        deadline = time.monotonic() + 60
        while len(draft_store.DraftStore(ws).all()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        code, out = run(capsys, "draft", "stop", job, "-w", root)
        assert code == 0 and "stop requested" in out
        gate.set()
        deadline = time.monotonic() + 30
        while draft_job.list_jobs(ws)[0]["state"] == "running" and time.monotonic() < deadline:
            time.sleep(0.2)
    info = draft_job.list_jobs(ws)[0]
    assert info["state"] == "cancelled"
    drafted = draft_store.DraftStore(ws).all()
    assert 2 <= len(drafted) == info["done"] < len(cluster(ws).items)


def test_a_renamed_cluster_is_drafted_under_its_overlay_name(ws):
    from ftui.core.curate import edits as cluster_edits

    cluster_edits.rename(ws, CLUSTER, "bad_symbol")
    c = cluster_failures(ws, load_run_log(ws)).by_label("bad_symbol")
    assert c is not None and c.items[0].label == CLUSTER  # the log itself is untouched
    settings = draft_teacher.PromptSettings(template="Cluster {label}: {user}")
    plan = draft_job.plan_drafts(ws, c, draft_teacher.Teacher(draft_teacher.LOCAL, ws.model), settings)
    assert plan.label == "bad_symbol"
    assert all(it["cluster"] == "bad_symbol" for it in plan.items)
    assert all(it["messages"][-1]["content"].startswith("Cluster bad_symbol: ") for it in plan.items)
    job = draft_job.write_job(ws, plan, concurrency=1, max_new_tokens=8)
    assert job.parent == draft_store.drafts_dir(ws) / draft_job.JOBS and job.name.endswith("-bad_symbol")
    assert draft_job.find_job(ws, "latest") == job


def test_the_teacher_sees_the_system_prompt_of_a_logged_conversation(ws):
    from dataclasses import replace

    item = replace(
        cluster(ws).items[0],
        system_prompt=None,
        messages=(("system", "Answer in French."), ("user", "Where is the parser?")),
    )
    msgs = draft_teacher.teacher_messages(item, ws, draft_teacher.PromptSettings(), [])
    assert msgs[0] == {"role": "system", "content": "Answer in French."}
    assert "Answer in French." in msgs[-1]["content"] and "Where is the parser?" in msgs[-1]["content"]
