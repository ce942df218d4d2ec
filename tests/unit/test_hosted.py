"""Hosted fine-tuning against a local OpenAI-compatible service: submit, poll, fail, cancel, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ftui.cli import main
from ftui.core.base import events
from ftui.core.base.errors import ConfigError
from ftui.core.build import checks
from ftui.core.hosted import hosted
from ftui.core.runs import runs
from ftui.core.runs.runs import read_run_config
from ftui.core.workspace.workspace import HostedConfig, Workspace
from tests.fixtures.ft_server import FineTuneServer
from tests.fixtures.tiny_build import write_workspace

KEY = "test-key"


@pytest.fixture
def ws_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return write_workspace(tmp_path / "ws", model="no-local-model")


@pytest.fixture
def server():
    with FineTuneServer(page_size=3) as srv:  # tiny pages: polling must walk the `after` cursor
        yield srv


def _submit(ws_dir: Path, server: FineTuneServer, *extra: str) -> int:
    return main(["hosted", "submit", str(ws_dir), "--base-url", server.base_url, "--model", "base-small", *extra])


def _only_run(ws_dir: Path) -> Path:
    found = [d for d in (ws_dir / ".ftui" / "runs").iterdir() if d.is_dir()]
    assert len(found) == 1
    return found[0]


def _events(run_dir: Path) -> list[dict]:
    evs, _ = events.read_events(run_dir / "events.jsonl")
    return evs


def _lines(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]


def test_submit_then_follow_records_the_whole_job(ws_dir, server, capsys):
    assert _submit(ws_dir, server) == 0
    run_dir = _only_run(ws_dir)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["kind"] == "hosted" and config["base_url"] == server.base_url and config["model"] == "base-small"
    assert config["method"] == "sft" and config["job_id"] in server.jobs
    assert Path(config["build_dir"]).name == "b0000000001"
    assert [e["type"] for e in _events(run_dir)] == ["started", "status"]
    started = _events(run_dir)[0]
    assert (started["model"], started["method"], started["train_size"], started["eval_size"]) == (
        "base-small",
        "sft",
        12,
        4,
    )
    assert started["config"]["job_id"] == config["job_id"]
    out = capsys.readouterr().out
    # 12 examples x 3 epochs < 100 example passes, so the rule raises the epochs to 100 // 12 = 8.
    assert "billed-token estimate: 12 examples x 8 epochs" in out

    assert main(["hosted", "status", run_dir.name, "-w", str(ws_dir), "--follow", "--interval", "0.01"]) == 0
    evs = _events(run_dir)
    assert len(evs) == len(_lines(run_dir))  # every line is a valid event
    logs = [e for e in evs if e["type"] == "log"]
    assert [e["step"] for e in logs] == [1, 2, 3, 4, 5, 6]
    assert all(e["max_steps"] == 6 for e in logs)
    assert [e["loss"] for e in logs] == [round(2.0 / s, 4) for s in range(1, 7)]
    assert [(e["step"], e["eval_loss"]) for e in evs if e["type"] == "eval"] == [(2, 1.25), (4, 0.625), (6, 0.7167)]
    assert [e["step"] for e in evs if e["type"] == "checkpoint"] == [3, 6]
    final = evs[-1]
    job = server.jobs[config["job_id"]]
    assert final["type"] == "finished"
    assert final["adapter"] == job["fine_tuned_model"] == f"ft:base-small:local:ft:{job['id']}"
    assert (final["best_eval_loss"], final["best_step"], final["runtime_s"]) == (0.625, 4, 42)
    assert sum(e["type"] in events.FINAL_TYPES for e in evs) == 1
    assert json.loads((run_dir / hosted.STATE_FILE).read_text())["last_event_id"] == job["events"][-1]["id"]

    info = next(r for r in runs.list_runs(Workspace.load(ws_dir)) if r.id == run_dir.name)
    assert (info.state, info.adapter, info.step, info.best_eval_loss) == ("finished", final["adapter"], 6, 0.625)


def test_submit_follow_json_and_endpoint(ws_dir, server, capsys):
    rc = main(
        [
            "hosted",
            "submit",
            str(ws_dir),
            "--base-url",
            server.base_url,
            "--model",
            "base-small",
            "--follow",
            "--interval",
            "0.01",
            "--json",
        ]
    )
    assert rc == 0
    run_dir = _only_run(ws_dir)
    out = capsys.readouterr().out
    printed = json.loads("[" + out.replace("}\n{", "},\n{") + "]")
    assert printed[-1]["type"] == "finished"
    assert hosted.tuned_endpoint(run_dir) == {
        "base_url": server.base_url,
        "model": printed[-1]["adapter"],
        "api_key_env": "OPENAI_API_KEY",
    }
    assert hosted.base_endpoint(run_dir) == {
        "base_url": server.base_url,
        "model": "base-small",
        "api_key_env": "OPENAI_API_KEY",
    }


def test_polling_again_never_duplicates_events(ws_dir, server):
    assert _submit(ws_dir, server) == 0
    run_dir = _only_run(ws_dir)
    for _ in range(3):  # partial progress each time
        hosted.sync(run_dir)
    mid = _lines(run_dir)
    assert hosted.run_state(run_dir) == "running"
    assert hosted.follow(run_dir, interval=0.01) == "finished"
    done = _lines(run_dir)
    assert done[: len(mid)] == mid
    assert hosted.sync(run_dir) == []  # a finished run is not polled again
    assert main(["hosted", "status", run_dir.name, "-w", str(ws_dir)]) == 0
    assert _lines(run_dir) == done
    ids = [e["service_event_id"] for e in done if e["type"] in ("log", "status") and "service_event_id" in e]
    assert (
        len(ids)
        == len(set(ids))
        == len(server.jobs[json.loads((run_dir / "config.json").read_text())["job_id"]]["events"])
    )


def test_lost_state_file_does_not_duplicate(ws_dir, server):
    # The events file is the record: the mirror state file may be deleted without harm.
    assert _submit(ws_dir, server) == 0
    run_dir = _only_run(ws_dir)
    hosted.sync(run_dir)
    hosted.sync(run_dir)
    (run_dir / hosted.STATE_FILE).unlink()
    hosted.follow(run_dir, interval=0.01)
    steps = [e["step"] for e in _events(run_dir) if e["type"] == "log"]
    assert steps == sorted(set(steps)) == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("oldest_first", [False, True])
def test_service_events_recorded_once_in_order(ws_dir, oldest_first):
    with FineTuneServer(page_size=2, oldest_first=oldest_first) as server:
        assert _submit(ws_dir, server) == 0
        run_dir = _only_run(ws_dir)
        for _ in range(3):
            hosted.sync(run_dir)
        assert hosted.follow(run_dir, interval=0.01) == "finished"
        job = server.jobs[json.loads((run_dir / "config.json").read_text())["job_id"]]
    recorded = []
    for e in _events(run_dir):
        if "service_event_id" in e and e["service_event_id"] not in recorded:
            recorded.append(e["service_event_id"])
    assert recorded == [e["id"] for e in job["events"]]


def test_uploaded_files_are_openai_chat_format(ws_dir, server):
    assert _submit(ws_dir, server, "--epochs", "2", "--suffix", "fix-paths") == 0
    run_dir = _only_run(ws_dir)
    config = json.loads((run_dir / "config.json").read_text())
    req = server.jobs[config["job_id"]]["request"]
    assert req["method"] == {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}}
    assert req["suffix"] == "fix-paths" and req["model"] == "base-small"
    train = server.files[req["training_file"]]
    held = server.files[req["validation_file"]]
    assert train["filename"] == "train.jsonl"
    build = Path(read_run_config(run_dir)["build_dir"])  # stored relative to the run folder
    for uploaded, source in ((train, "train.jsonl"), (held, "eval.jsonl")):
        rows = [json.loads(x) for x in uploaded["content"].splitlines()]
        expected = [json.loads(x) for x in (build / source).read_text().splitlines()]
        assert [r["messages"] for r in rows] == [r["messages"] for r in expected]
        assert all(set(r) == {"messages"} for r in rows)
        assert [m["role"] for m in rows[0]["messages"]] == ["system", "user", "assistant"]
        rep = checks.run_checks([json.loads(x) for x in uploaded["content"].splitlines()], fmt="openai-chat")
        assert rep.examples == len(expected) and not rep.errors, [str(f) for f in rep.findings]


def test_dpo_uploads_openai_preference_pairs(ws_dir, server):
    assert _submit(ws_dir, server, "--method", "dpo") == 0
    run_dir = _only_run(ws_dir)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["method"] == "dpo"
    req = server.jobs[config["job_id"]]["request"]
    assert req["method"] == {"type": "dpo"}
    rows = [json.loads(x) for x in server.files[req["training_file"]]["content"].splitlines()]
    pairs = [
        json.loads(x)
        for x in (Path(read_run_config(run_dir)["build_dir"]) / "dpo_train.jsonl").read_text().splitlines()
    ]
    assert rows == [
        {"input": {"messages": p["prompt"]}, "preferred_output": p["chosen"], "non_preferred_output": p["rejected"]}
        for p in pairs
    ]


def test_failed_job_ends_with_failed_event(ws_dir, capsys):
    with FineTuneServer(fail_at_step=3) as server:
        assert _submit(ws_dir, server) == 0
        run_dir = _only_run(ws_dir)
        assert main(["hosted", "status", "latest", "-w", str(ws_dir), "--follow", "--interval", "0.01"]) == 1
    evs = _events(run_dir)
    assert evs[-1]["type"] == "failed"
    assert evs[-1]["error"] == "The job failed at step 3. (server_error)"
    assert [e["step"] for e in evs if e["type"] == "log"] == [1, 2]
    assert "failed" in capsys.readouterr().out
    assert runs.read_state(run_dir).state == "failed"


def test_cancel_records_cancelled_and_stops_polling(ws_dir, server, capsys):
    assert _submit(ws_dir, server) == 0
    run_dir = _only_run(ws_dir)
    hosted.sync(run_dir)
    hosted.sync(run_dir)  # running, two steps in
    assert main(["hosted", "cancel", run_dir.name, "-w", str(ws_dir)]) == 0
    job = server.jobs[json.loads((run_dir / "config.json").read_text())["job_id"]]
    assert job["status"] == "cancelled"
    evs = _events(run_dir)
    assert evs[-1]["type"] == "cancelled" and evs[-1]["step"] == 2
    assert hosted.run_state(run_dir) == "cancelled"
    assert hosted.tuned_endpoint(run_dir) is None
    before = _lines(run_dir)
    capsys.readouterr()
    assert main(["hosted", "cancel", run_dir.name, "-w", str(ws_dir)]) == 0
    assert "is not running (cancelled)" in capsys.readouterr().out
    assert main(["hosted", "status", run_dir.name, "-w", str(ws_dir)]) == 0
    assert _lines(run_dir) == before
    assert runs.read_state(run_dir).state == "cancelled"


def test_missing_api_key_is_one_clear_line(ws_dir, server, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY")
    assert _submit(ws_dir, server) == 2
    err = capsys.readouterr().err.strip()
    assert err == "ftui: no API key: the environment variable OPENAI_API_KEY is not set"
    assert not (ws_dir / ".ftui" / "runs").exists() or not any((ws_dir / ".ftui" / "runs").iterdir())
    assert server.requests == []


def test_api_key_variable_from_workspace(ws_dir, server, monkeypatch, capsys):
    cfg = yaml.safe_load((ws_dir / "ftui.yaml").read_text())
    cfg["hosted"] = {"base_url": server.base_url, "model": "base-small", "api_key_env": "MY_FT_KEY", "n_epochs": 3}
    (ws_dir / "ftui.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["hosted", "submit", str(ws_dir)]) == 2
    assert "MY_FT_KEY is not set" in capsys.readouterr().err
    monkeypatch.setenv("MY_FT_KEY", KEY)
    assert main(["hosted", "submit", str(ws_dir)]) == 0
    run_dir = _only_run(ws_dir)
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["api_key_env"], config["n_epochs"]) == ("MY_FT_KEY", 3)
    assert server.jobs[config["job_id"]]["request"]["method"]["supervised"]["hyperparameters"] == {"n_epochs": 3}
    assert hosted.follow(run_dir, interval=0.01) == "finished"


def test_service_errors_are_one_line_with_status(ws_dir, server, monkeypatch, capsys):
    assert main(["hosted", "submit", str(ws_dir), "--base-url", server.base_url, "--model", "nope"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"ftui: {server.base_url}: HTTP 400: Model nope is not available for fine-tuning."
    assert not any((ws_dir / ".ftui" / "runs").iterdir())  # no half-made run left behind
    monkeypatch.setenv("OPENAI_API_KEY", "wrong")
    assert _submit(ws_dir, server) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"ftui: {server.base_url}: HTTP 401: Incorrect API key provided."


def test_no_service_configured_names_the_config(ws_dir, capsys):
    assert main(["hosted", "submit", str(ws_dir), "--model", "base-small"]) == 2
    err = capsys.readouterr().err
    assert "ftui.yaml" in err and "--base-url" in err and len(err.strip().splitlines()) == 1


def test_status_of_a_local_run_is_refused(ws_dir, capsys):
    ws = Workspace.load(ws_dir)
    run_dir = runs.create_run(ws, ws_dir / ".ftui" / "builds" / "b0000000001")
    assert main(["hosted", "status", run_dir.name, "-w", str(ws_dir)]) == 2
    assert "is a local training run" in capsys.readouterr().err


def test_workspace_hosted_section(tmp_path):
    (tmp_path / "runs.jsonl").write_text('{"question_id": "q1", "question": "x", "answer": "y"}\n')
    cfg = tmp_path / "ftui.yaml"
    cfg.write_text("run_log: runs.jsonl\nhosted:\n  base_url: http://localhost:9/v1\n  model: m1\n  suffix: s\n")
    ws = Workspace.load(tmp_path)
    assert ws.hosted == HostedConfig(base_url="http://localhost:9/v1", model="m1", suffix="s")
    assert Workspace.load(tmp_path / "ftui.yaml").hosted.api_key_env == "OPENAI_API_KEY"
    cfg.write_text("run_log: runs.jsonl\nhosted:\n  bse_url: http://x/v1\n  model: m1\n")
    with pytest.raises(ConfigError) as exc:
        Workspace.load(tmp_path)
    assert str(exc.value).endswith(":3: unknown key `hosted.bse_url` (did you mean `base_url`?)")
    cfg.write_text("run_log: runs.jsonl\nhosted:\n  base_url: http://x/v1\n")
    with pytest.raises(ConfigError, match="`hosted` is missing `model`"):
        Workspace.load(tmp_path)
    cfg.write_text("run_log: runs.jsonl\nhosted:\n  base_url: http://x/v1\n  model: m\n  n_epochs: many\n")
    with pytest.raises(ConfigError, match=r"hosted\.n_epochs"):
        Workspace.load(tmp_path)
    cfg.write_text("run_log: runs.jsonl\n")
    assert Workspace.load(tmp_path).hosted is None


def test_a_running_hosted_job_lists_as_running(ws_dir, server):
    assert _submit(ws_dir, server) == 0
    run_dir = _only_run(ws_dir)
    hosted.sync(run_dir)
    assert hosted.run_state(run_dir) == "running"
    assert runs.read_state(run_dir).state == "running"


def _word_tokenizer_dir(d: Path) -> Path:
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    tok = Tokenizer(WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tok.pre_tokenizer = Whitespace()
    d.mkdir()
    tok.save(str(d / "tokenizer.json"))
    template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    (d / "tokenizer_config.json").write_text(json.dumps({"chat_template": template}))
    return d


def test_estimate_uses_a_local_tokenizer_when_there_is_one(tmp_path):
    from tokenizers import Tokenizer

    model_dir = _word_tokenizer_dir(tmp_path / "tok")
    rows = [
        {
            "messages": [
                {"role": "user", "content": "where is x defined ?"},
                {"role": "assistant", "content": f"in file_{i}.py"},
            ]
        }
        for i in range(40)
    ]
    est = hosted.estimate(rows, None, str(model_dir))
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    per_row = len(tok.encode("user: where is x defined ?\nassistant: in file_0.py\n", add_special_tokens=False).ids)
    # 40 examples x 3 epochs = 120 passes: within 100..25,000, so OpenAI's default of 3 stands.
    assert (est["examples"], est["epochs"], est["tokens_per_epoch"]) == (40, 3, 40 * per_row)
    assert est["billed_tokens"] == 3 * 40 * per_row and str(model_dir) in est["note"]
    approx = hosted.estimate(rows, 2, "no-such-model")
    assert approx["epochs"] == 2 and approx["note"].startswith("approximate")
    assert hosted.estimate_line(est).startswith("billed-token estimate: 40 examples x 3 epochs")


def test_build_without_held_out_rows_sends_no_validation_file(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    ws_dir = write_workspace(tmp_path / "ws", model="no-local-model", n_eval=0)
    with FineTuneServer() as server:
        assert _submit(ws_dir, server) == 0
        run_dir = _only_run(ws_dir)
        req = server.jobs[json.loads((run_dir / "config.json").read_text())["job_id"]]["request"]
        assert "validation_file" not in req and len(server.files) == 1
        assert hosted.follow(run_dir, interval=0.01) == "finished"
    evs = _events(run_dir)
    assert not [e for e in evs if e["type"] == "eval"]
    assert (evs[-1]["type"], evs[-1]["best_eval_loss"], evs[-1]["best_step"]) == ("finished", None, None)


def test_bad_build_or_method_is_a_usage_error(ws_dir, server, capsys):
    assert _submit(ws_dir, server, "--build", "nope") == 2
    assert "no build 'nope'" in capsys.readouterr().err
    (ws_dir / ".ftui" / "builds" / "b0000000001" / "dpo_train.jsonl").write_text("")
    assert _submit(ws_dir, server, "--method", "dpo") == 2
    assert "dpo_train.jsonl: no training rows for DPO" in capsys.readouterr().err
    assert server.requests == []


def test_ftui_stop_cancels_a_hosted_job(ws_dir, server):
    assert _submit(ws_dir, server) == 0
    run_dir = _only_run(ws_dir)
    hosted.sync(run_dir)
    assert runs.read_state(run_dir).state == "running"
    assert main(["stop", run_dir.name, "-w", str(ws_dir)]) == 0
    job = server.jobs[json.loads((run_dir / "config.json").read_text())["job_id"]]
    assert job["status"] == "cancelled"
    assert runs.read_state(run_dir).state == "cancelled"


def test_evaluating_a_hosted_run_uses_the_service_on_both_sides(ws_dir, server):
    from ftui.core.judge import evalrun
    from ftui.core.workspace.workspace import Workspace

    # Benchmark items the (fixture) build did not train on.
    with open(ws_dir / "runs.jsonl", "a") as fh:
        for i in range(3):
            fh.write(
                json.dumps(
                    {
                        "question_id": f"b{i}",
                        "question": f"q{i}?",
                        "answer": "a",
                        "grade": "correct",
                        "expected_answer": "a",
                    }
                )
                + "\n"
            )
    assert _submit(ws_dir, server) == 0
    run_dir = _only_run(ws_dir)
    ws = Workspace.load(ws_dir)
    with pytest.raises(evalrun.EvalError, match="no fine-tuned model yet"):
        evalrun.plan_eval(ws, run_dir)
    while hosted.run_state(run_dir) == "running":
        hosted.sync(run_dir)
    plan = evalrun.plan_eval(ws, run_dir)
    tuned, base = plan.config["tuned_endpoint"], plan.config["base_endpoint"]
    assert tuned["base_url"] == base["base_url"] == server.base_url
    assert base["model"] == "base-small"
    assert tuned["model"] == hosted.tuned_endpoint(run_dir)["model"] != "base-small"
    assert plan.config["adapter"] is None


def test_follow_shows_what_another_watcher_recorded(ws_dir, server, monkeypatch):
    # The workbench attached to the same run polls too, and records some of the job's events first.
    assert _submit(ws_dir, server) == 0
    run_dir = _only_run(ws_dir)
    real_sync, shown = hosted.sync, []

    def workbench_polls_first(rd, client=None):
        real_sync(rd)
        return real_sync(rd, client)

    monkeypatch.setattr(hosted, "sync", workbench_polls_first)
    assert hosted.follow(run_dir, interval=0.01, on_event=shown.append) == "finished"
    recorded = _events(run_dir)
    assert [e["step"] for e in shown if e["type"] == "log"] == [1, 2, 3, 4, 5, 6]
    assert shown == recorded[len(recorded) - len(shown) :] and shown[-1]["type"] == "finished"


def test_follow_bridges_a_service_that_does_not_answer_for_a_while(ws_dir, server, monkeypatch):
    assert _submit(ws_dir, server) == 0
    run_dir = _only_run(ws_dir)
    real_sync, calls = hosted.sync, []
    down = hosted.HostedError(f"{server.base_url}: cannot reach the service", service=True, unreachable=True)

    def flaky_sync(rd, client=None):
        calls.append(1)
        if len(calls) <= 2:  # the service restarts: two polls find nobody
            raise down
        return real_sync(rd, client)

    monkeypatch.setattr(hosted, "sync", flaky_sync)
    assert hosted.follow(run_dir, interval=0.01) == "finished"

    def gone(rd, client=None):
        calls.append(1)
        raise down

    assert _submit(ws_dir, server) == 0  # a second job, still running
    run_dir = next(d for d in (ws_dir / ".ftui" / "runs").iterdir() if d != run_dir)
    calls.clear()
    monkeypatch.setattr(hosted, "sync", gone)
    with pytest.raises(hosted.HostedError, match="cannot reach"):
        hosted.follow(run_dir, interval=0.01, unreachable_for=0.05)
    assert len(calls) > 1  # it kept trying for the window

    def refused(rd, client=None):
        calls.append(1)
        raise hosted.HostedError("HTTP 401: Incorrect API key provided.", service=True)

    calls.clear()
    monkeypatch.setattr(hosted, "sync", refused)
    with pytest.raises(hosted.HostedError, match="401"):
        hosted.follow(run_dir, interval=0.01)
    assert len(calls) == 1  # a refusal is not retried
