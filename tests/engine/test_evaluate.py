import json

import pytest

from ftui.core.base.events import read_events
from ftui.core.judge import evalrun
from ftui.core.judge.compare import load_report, render_text
from ftui.core.workspace.prompts import messages_for
from ftui.engine.infer import generate as G
from ftui.engine.judge.evaluate import Evaluation
from ftui.engine.judge.evaluate import main as eval_main
from tests.fixtures.chat_server import ChatServer
from tests.fixtures.eval_run import make_eval_workspace
from tests.fixtures.tiny_adapter import train_tiny_adapter

TARGET = "src/mod_3.py"


@pytest.fixture(scope="module")
def adapter(tiny_model_dir, tmp_path_factory):
    from ftui.core.workspace.workspace import PromptConfig
    from tests.fixtures.datasets.workspace import failing

    row = failing(3, "wrong_symbol")
    ws_item = type(
        "I",
        (),
        {
            "prompt": None,
            "system_prompt": row["system_prompt"],
            "question": row["question"],
            "evidence_text": row["evidence_text"],
            "evidence_files": (),
        },
    )()
    msgs = messages_for(ws_item, PromptConfig())
    return train_tiny_adapter(
        tiny_model_dir, tmp_path_factory.mktemp("adapter") / "adapter", msgs, TARGET, steps=150, lr=1e-2
    )


def events_of(run_dir):
    evs, _ = read_events(run_dir / "eval" / "events.jsonl")
    return evs


def test_eval_child_writes_report_and_base_cache_hits_on_second_eval(tiny_model_dir, adapter, tmp_path):
    ws, run_dir = make_eval_workspace(tmp_path / "ws", tiny_model_dir, adapter)
    evalrun.write_plan(evalrun.plan_eval(ws, run_dir))
    loads = G.LOADS
    assert eval_main(run_dir) == 0
    assert loads + 1 == G.LOADS  # one model load for both sides
    evs = events_of(run_dir)
    kinds = [e["type"] for e in evs]
    assert kinds[0] == "heartbeat" and "started" in kinds and kinds[-1] == "finished"
    fin = evs[-1]
    assert fin["generated"] == {"base": 9, "tuned": 9} and fin["base_cache_hits"] == 0
    progress = [e for e in evs if e["type"] == "progress"]
    assert {e["side"] for e in progress} == {"base", "tuned"}
    assert progress[-1] == {**progress[-1], "side": "tuned", "done": 9, "total": 9}

    report = load_report(fin["report"])
    assert report["targeted_cluster"] == "wrong_symbol" and report["targeted"]["total"] == 3
    assert len(report["items"]) == 9
    by = {it["id"]: it for it in report["items"]}
    # The adapter learned wrong_symbol-3's answer: the base could not, so it is fixed.
    assert by["wrong_symbol-3"]["tuned_answer"].startswith(TARGET)
    assert by["wrong_symbol-3"]["bucket"] == "fixed"
    assert by["wrong_symbol-3"]["base_answer"] != by["wrong_symbol-3"]["tuned_answer"]
    assert all(it["base_grade"]["reason"] and it["tuned_grade"]["reason"] for it in report["items"])
    assert (ws.state.reports / f"{run_dir.name}-report.json").exists()
    answers = (run_dir / "eval" / "answers.jsonl").read_text().splitlines()
    assert len(answers) == 9
    cache = ws.state.cache / "base_answers.jsonl"
    assert len(cache.read_text().splitlines()) == 9

    # A second fine-tune of the same base: only its own side is generated.
    run2 = run_dir.parent / "20260102-000000-sft"
    run2.mkdir()
    cfg = json.loads((run_dir / "config.json").read_text())
    (run2 / "config.json").write_text(json.dumps({**cfg, "run_id": run2.name}))
    (run2 / "adapter").symlink_to(run_dir / "adapter")
    evalrun.write_plan(evalrun.plan_eval(ws, run2))
    loads = G.LOADS
    assert eval_main(run2) == 0
    assert loads + 1 == G.LOADS
    fin2 = events_of(run2)[-1]
    assert fin2["generated"] == {"base": 0, "tuned": 9} and fin2["base_cache_hits"] == 9
    assert len(cache.read_text().splitlines()) == 9
    rep2 = load_report(fin2["report"])
    assert [it["base_answer"] for it in rep2["items"]] == [it["base_answer"] for it in report["items"]]


def test_endpoints_on_both_sides_need_no_model(tmp_path):
    def reply(body):
        user = body["messages"][-1]["content"]
        # The "tuned" server answers the expected file; the "base" server answers something else.
        return "src/mod_4.py" if body["model"] == "tuned-model" and "f4" in user else "I do not know."

    with ChatServer(reply) as base_srv, ChatServer(reply) as tuned_srv:
        extra = (
            f"  base_endpoint:\n    base_url: {base_srv.base_url}\n    model: base-model\n"
            f"  tuned_endpoint:\n    base_url: {tuned_srv.base_url}\n    model: tuned-model\n"
        )
        ws, run_dir = make_eval_workspace(tmp_path / "ws", tmp_path / "no-model", None, extra)
        evalrun.write_plan(evalrun.plan_eval(ws, run_dir))
        emitted = []

        def no_model(adapter):
            raise AssertionError("no local model may load when both sides are endpoints")

        ev = Evaluation(run_dir, lambda t, **f: emitted.append((t, f)), generator_factory=no_model)
        report = load_report(ev.run())
        assert len(base_srv.requests) == 9 and len(tuned_srv.requests) == 9
        assert base_srv.requests[0]["body"]["temperature"] == 0
        by = {it["id"]: it for it in report["items"]}
        assert by["wrong_symbol-4"]["bucket"] == "fixed"
        assert report["sides"]["base"].startswith("endpoint:http://127.0.0.1")
        # Base endpoint answers are cached too: a second evaluation asks the base server nothing.
        evalrun.write_plan(evalrun.plan_eval(ws, run_dir))
        Evaluation(run_dir, lambda t, **f: None, generator_factory=no_model).run()
        assert len(base_srv.requests) == 9 and len(tuned_srv.requests) == 18


def test_failure_is_an_event_with_traceback_tail(tmp_path, tiny_model_dir):
    broken = tmp_path / "broken-adapter"
    broken.mkdir()
    (broken / "adapter_config.json").write_text("{not json")
    ws, run_dir = make_eval_workspace(tmp_path / "ws", tiny_model_dir, broken)
    evalrun.write_plan(evalrun.plan_eval(ws, run_dir))
    assert eval_main(run_dir) == 1
    last = events_of(run_dir)[-1]
    assert last["type"] == "failed" and last["error"] and last["traceback_tail"]
    assert evalrun.eval_state(run_dir).state == "failed"


@pytest.mark.slow
def test_cli_eval_follow_runs_a_detached_child(tiny_model_dir, adapter, tmp_path, capsys):
    from ftui.cli import main

    ws, run_dir = make_eval_workspace(tmp_path / "ws", tiny_model_dir, adapter)
    assert main(["eval", "latest", "-w", str(ws.root), "--limit", "4", "--follow", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # --limit samples in proportion across clusters: 4 of 9 items, 3 of them targeted, gives the
    # targeted cluster 4 * 3/9 = 1.33 -> 1 item and the rest 4 * 6/9 = 2.67 -> 3 (largest remainder).
    assert out["state"] == "finished" and out["targeted"]["total"] == 1 and out["rest"]["total"] == 3
    assert out["verdict"] == "inconclusive"  # one targeted item cannot settle anything
    pid = int((run_dir / "eval" / "pid").read_text())
    st = evalrun.eval_state(run_dir)
    assert st.state == "finished" and st.progress["tuned"]["done"] == 4
    assert evalrun.read_report(run_dir)["run_id"] == run_dir.name
    assert "started" in (run_dir / "eval" / "events.jsonl").read_text()
    assert pid > 0


def test_flaky_check_and_fewshot_arm(tiny_model_dir, adapter, tmp_path):
    from tests.fixtures.eval_run import MANIFEST, TRAIN_IDS

    ws, run_dir = make_eval_workspace(
        tmp_path / "ws", tiny_model_dir, adapter, extra_config="  flaky_k: 2\n  fewshot_k: 1\n"
    )
    # The build's training corrections are the few-shot pool.
    from ftui.core.logs.runlog import load_run_log

    log = load_run_log(ws)
    rows = []
    for i in TRAIN_IDS:
        it = log.by_id[i]
        kind = "anchor" if i.startswith("ok") else "correction"
        msgs = [*messages_for(it, ws.prompt), {"role": "assistant", "content": f"fixed answer for {i}"}]
        rows.append({"id": i, "cluster": "wrong_symbol", "kind": kind, "messages": msgs})
    build_dir = ws.state.builds / MANIFEST["build_id"]
    (build_dir / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    plan = evalrun.plan_eval(ws, run_dir)
    by = {it["id"]: it for it in plan.items}
    for it in plan.items:
        assert len(it["fewshot_ids"]) == 1 and it["fewshot_ids"][0] in TRAIN_IDS[:3]
        assert it["fewshot_messages"][1]["role"] == "user" and it["fewshot_messages"][2]["role"] == "assistant"
        assert it["fewshot_messages"][-1] == it["messages"][-1]
    # hallucination-1 shows the same code as wrong_symbol-1: that correction is never its example.
    assert by["hallucination-1"]["fewshot_ids"] != ["wrong_symbol-1"]
    evalrun.write_plan(plan)
    assert eval_main(run_dir) == 0
    rep = load_report(run_dir / "eval" / "report.json")
    passing = [it for it in rep["items"] if it["base_grade"]["passed"]]
    assert rep["flaky"]["checked"] == len(passing)
    for it in passing:
        assert it["base_stability"]["asked"] == 2 and 0 <= it["base_stability"]["held"] <= 2
        assert it["flaky"] == (it["base_stability"]["held"] < 2)
    fs = rep["fewshot"]
    assert fs["k"] == 1 and fs["targeted"]["total"] == rep["targeted"]["total"]
    assert all(it["fewshot_grade"] is not None for it in rep["items"])
    evs = events_of(run_dir)
    assert {e["side"] for e in evs if e["type"] == "progress"} >= {"base", "tuned", "fewshot"}


def test_bf16_evaluation_says_so_and_caches_its_base_answers_apart(tiny_model_dir, adapter, tmp_path, monkeypatch):
    from ftui.engine.weights import device

    monkeypatch.setattr(device, "cpu_native_bf16", lambda *a, **k: False)  # a CPU without bf16 units
    ws, run_dir = make_eval_workspace(tmp_path / "ws", tiny_model_dir, adapter)
    plan = evalrun.plan_eval(ws, run_dir)
    assert plan.config["dtype"] == "auto"
    evalrun.write_plan(plan)
    assert eval_main(run_dir) == 0
    fp32 = load_report(events_of(run_dir)[-1]["report"])
    assert fp32["dtype"] == "fp32"

    plan.config["dtype"] = "bf16"
    evalrun.write_plan(plan)
    assert eval_main(run_dir) == 0
    fin = events_of(run_dir)[-1]
    assert fin["base_cache_hits"] == 0  # fp32 answers are not taken for bf16 ones
    bf16 = load_report(fin["report"])
    assert bf16["dtype"] == "bf16" and "bf16 weights" in render_text(bf16)
    assert len(bf16["items"]) == len(fp32["items"])
