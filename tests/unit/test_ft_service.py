"""The fine-tuning service's rules without HTTP or training: keys, files, job creation and checks,
OpenAI's events and checkpoints read from a run's events file, paging, cancel."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ftui.core.base import events as ev
from ftui.core.base import tokens
from ftui.core.base.models import EMBEDDED, local_model_dir
from ftui.core.hosted import service as ft_service
from ftui.core.hosted.service import Service, ServiceError, owner_of
from ftui.core.runs import runs
from ftui.core.workspace.workspace import Workspace
from tests.fixtures.tiny_build import write_workspace

A, B = owner_of("key-a"), owner_of("key-b")
GOOD = "".join(
    json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}) + "\n"
    for i in range(8)
).encode()


@pytest.fixture
def svc(tmp_path) -> Service:
    return Service(Workspace.load(write_workspace(tmp_path / "ws", model="base-model")))


def _job(svc: Service, **extra) -> dict:
    fid = svc.add_file(A, "train.jsonl", GOOD, "fine-tune")["id"]
    return svc.create_job(A, {"model": "base-model", "training_file": fid, **extra})


def test_keys_are_hashed_and_split():
    assert ft_service.keys_from_env(" key-a, key-b,,") == {A, B}
    assert ft_service.keys_from_env("") == frozenset()
    assert "key-a" not in A and len(A) == 32


def test_a_job_is_queued_with_its_build_and_settings(svc):
    job = _job(svc, suffix="paths", method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}})
    assert job["status"] == "queued" and job["fine_tuned_model"] is None
    assert job["hyperparameters"] == {"n_epochs": 2, "batch_size": 4, "learning_rate_multiplier": 1.0}
    rec = json.loads((svc.jobs_dir / f"{job['id']}.json").read_text())
    # 8 rows, batch 4, 2 epochs: 4 steps; evaluate and save every step (about four times a job).
    assert rec["train"]["max_steps"] == 4 and rec["train"]["eval_steps"] == rec["train"]["save_steps"] == 1
    assert rec["train"]["patience"] == 0 and rec["train"]["method"] == "sft"
    rows = [json.loads(x) for x in (svc.builds_dir / job["id"] / "train.jsonl").read_text().splitlines()]
    assert [r["messages"][-1]["content"] for r in rows] == [f"a{i}" for i in range(8)]
    auto = _job(svc)  # 8 rows x 3 epochs < 100 passes: OpenAI's rule raises the epochs to 12
    assert json.loads((svc.jobs_dir / f"{auto['id']}.json").read_text())["train"]["max_steps"] == 2 * 12
    assert [j["id"] for j in svc.list_jobs(A)] == [auto["id"], job["id"]] and svc.list_jobs(B) == []


def test_a_started_job_is_a_run_the_trainer_can_read(svc, monkeypatch):
    # The trainer rebuilds its settings from the run's config.json; the job's name there must not break it.
    started = []
    monkeypatch.setattr(runs, "start_training", lambda run_dir: started.append(run_dir))
    job = _job(svc, method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}})
    (run_id,) = svc.tick()
    config = runs.read_run_config(started[0])
    assert started[0].name == run_id and config["service_job"] == job["id"]
    settings = runs.train_config(config)
    assert settings.max_steps == 4 and settings.patience == 0 and settings.method == "sft"


def test_a_bad_file_fails_the_job_with_lines_named(svc):
    bad = GOOD + b"{oops\n" + json.dumps({"messages": [{"role": "user", "content": "q"}]}).encode() + b"\n"
    fid = svc.add_file(A, "bad.jsonl", bad, "fine-tune")["id"]
    job = svc.create_job(A, {"model": "base-model", "training_file": fid})
    assert job["status"] == "failed" and job["error"]["code"] == "invalid_training_file"
    assert "bad.jsonl:9" in job["error"]["message"] and "bad.jsonl:10" in job["error"]["message"]
    assert svc.events(A, job["id"])[-1]["level"] == "error"
    pairs = svc.create_job(
        A,
        {
            "model": "base-model",
            "training_file": svc.add_file(A, "t", GOOD, "fine-tune")["id"],
            "method": {"type": "dpo"},
        },
    )
    assert pairs["status"] == "failed" and pairs["error"]["param"] == "training_file"


@pytest.mark.parametrize(
    "req,param",
    [
        ({"model": "gpt-4o"}, "model"),
        ({"hyperparameters": {"n_epochs": "x"}}, "n_epochs"),
        ({"hyperparameters": {"n_epochs": 0}}, "n_epochs"),
        ({"hyperparameters": {"warmup": 3}}, "warmup"),
        ({"suffix": "has space"}, "suffix"),
        ({"method": {"type": "reinforcement"}}, "method"),
        ({"seed": "1"}, "seed"),
    ],
)
def test_bad_requests_are_400_with_the_param(svc, req, param):
    fid = svc.add_file(A, "train.jsonl", GOOD, "fine-tune")["id"]
    with pytest.raises(ServiceError) as exc:
        svc.create_job(A, {"model": "base-model", "training_file": fid, **req})
    assert exc.value.status == 400 and exc.value.body()["error"]["param"] == param


def test_keys_see_only_their_own(svc):
    job = _job(svc)
    with pytest.raises(ServiceError) as exc:
        svc.job(B, job["id"])
    assert exc.value.status == 404
    fid = svc.list_files(A)[0]["id"]
    with pytest.raises(ServiceError, match="No such File"):
        svc.create_job(B, {"model": "base-model", "training_file": fid})
    assert svc.list_files(B) == [] and "owner" not in svc.list_files(A)[0]
    with pytest.raises(ServiceError, match="purpose"):
        svc.add_file(A, "x.jsonl", GOOD, "batch")
    with pytest.raises(ServiceError, match="No such File"):
        svc.delete_file(B, fid)
    assert svc.file_content(A, fid) == GOOD
    assert svc.delete_file(A, fid)["deleted"] and svc.list_files(A) == []
    assert svc.job(A, job["id"]).record["training_file"] == fid  # the job keeps its build
    assert (svc.builds_dir / job["id"] / "train.jsonl").is_file()


def test_cancel_a_queued_job(svc):
    job = _job(svc)
    assert svc.cancel(A, job["id"])["status"] == "cancelled"
    assert svc.tick() == []  # a cancelled job never starts
    with pytest.raises(ServiceError, match="already cancelled"):
        svc.cancel(A, job["id"])
    assert svc.events(A, job["id"])[-1]["message"] == "Fine-tuning job cancelled"


def _attach_run(svc: Service, job: dict, lines: list[dict], alive: bool = True) -> Path:
    run_dir = Path(svc.ws.state.runs) / "20260101-000000-sft"
    run_dir.mkdir(parents=True, exist_ok=True)
    if alive:  # a live process stands for the training child
        (run_dir / "pid").write_text(f"{os.getpid()}\n")
    (run_dir / "config.json").write_text(
        json.dumps({"run_id": run_dir.name, "method": "sft", "service_job": job["id"]})
    )
    with ev.EventWriter(run_dir / "events.jsonl") as w:
        for line in lines:
            w.emit(line.pop("type"), **line)
    rec = json.loads((svc.jobs_dir / f"{job['id']}.json").read_text())
    rec["run_id"] = run_dir.name
    (svc.jobs_dir / f"{job['id']}.json").write_text(json.dumps(rec))
    return run_dir


def test_events_and_checkpoints_as_openai_reports_them(svc):
    job = _job(svc, suffix="s", validation_file=svc.add_file(A, "valid.jsonl", GOOD, "fine-tune")["id"])
    _attach_run(
        svc,
        job,
        [
            {"type": "started", "model": "base-model", "method": "sft"},
            {"type": "log", "step": 1, "max_steps": 2, "loss": 2.5, "token_accuracy": 0.5},
            {"type": "log", "step": 2, "max_steps": 2, "loss": 2.0},
        ],
    )
    first = svc.events(A, job["id"])
    # Step 2 (the last) is evaluated: it waits for its eval loss, so an event never changes once listed.
    assert [e["data"].get("step") for e in first if e["type"] == "metrics"] == [1]
    assert first[-1]["message"].startswith("Step 1/2: training loss=2.50")
    assert first[-1]["data"] == {"step": 1, "total_steps": 2, "train_loss": 2.5, "train_mean_token_accuracy": 0.5}
    run_dir = Path(svc.ws.state.runs) / "20260101-000000-sft"
    with ev.EventWriter(run_dir / "events.jsonl") as w:
        w.emit("eval", step=2, eval_loss=1.5)
        w.emit("checkpoint", step=2, path="checkpoints/checkpoint-2")
        w.emit("finished", adapter="adapter", best_eval_loss=1.5, best_step=2, runtime_s=3.0)
    after = svc.events(A, job["id"])
    assert after[: len(first)] == first
    step2 = [e for e in after if e["type"] == "metrics"][-1]["data"]
    assert step2 == {"step": 2, "total_steps": 2, "train_loss": 2.0, "valid_loss": 1.5, "full_valid_loss": 1.5}
    assert after[-1]["message"] == "The job has successfully completed"
    assert len({e["id"] for e in after}) == len(after)
    done = svc.public_job(svc.job(A, job["id"]).record)
    assert done["status"] == "succeeded" and done["fine_tuned_model"] == svc.fine_tuned_name(done | {"suffix": "s"})
    (cp,) = svc.checkpoints(A, job["id"])
    assert cp["step_number"] == 2 and cp["fine_tuned_model_checkpoint"] == done["fine_tuned_model"] + ":ckpt-step-2"
    assert cp["metrics"] == {"step": 2.0, "train_loss": 2.0, "valid_loss": 1.5, "full_valid_loss": 1.5}
    assert [m["id"] for m in svc.models(A)] == ["base-model", done["fine_tuned_model"]]
    assert [m["id"] for m in svc.models(B)] == ["base-model"]


def test_a_run_gone_without_its_final_event_is_failed(svc):
    job = _job(svc)
    _attach_run(svc, job, [{"type": "started", "model": "base-model", "method": "sft"}], alive=False)
    public = svc.public_job(svc.job(A, job["id"]).record)
    assert public["status"] == "failed" and public["error"]["code"] == "server_error"
    assert svc.events(A, job["id"])[-1]["level"] == "error"


def test_pages_follow_the_after_cursor():
    items = [{"id": f"x{i}"} for i in range(5)]
    assert ft_service.page(items, None, 2) == {"object": "list", "data": items[:2], "has_more": True}
    assert ft_service.page(items, "x1", 2)["data"] == items[2:4]
    assert ft_service.page(items, "x3", 2) == {"object": "list", "data": items[4:], "has_more": False}


def test_listen_line_says_who_can_reach_it(tmp_path):
    local = ft_service.listen_line("127.0.0.1", 8800, 2, "m", tmp_path)
    assert "http://127.0.0.1:8800/v1" in local and "this machine only" in local and "2 key(s)" in local
    assert "EVERY machine" in ft_service.listen_line("0.0.0.0", 8800, 1, "m", tmp_path)


def test_the_command_needs_keys_and_a_free_port(tmp_path, monkeypatch, capsys):
    import socket

    from ftui.cli import main

    ws_dir = write_workspace(tmp_path / "ws", model="base-model")
    monkeypatch.delenv(ft_service.KEYS_ENV, raising=False)
    assert main(["service", str(ws_dir)]) == 2
    assert f"no keys: set {ft_service.KEYS_ENV}" in capsys.readouterr().err
    monkeypatch.setenv(ft_service.KEYS_ENV, "k1")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["service", str(ws_dir), "--port", str(port)]) == 2
    assert f"port {port} on 127.0.0.1 is busy" in capsys.readouterr().err
    assert main(["service", "-w", str(ws_dir), "--status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "none"


CANCELLED_RUN = Path(__file__).resolve().parents[1] / "fixtures" / "events" / "cancelled_run.jsonl"


@pytest.mark.parametrize(
    "end",
    [
        "cancelled",  # the whole recorded run: stop asked, last step logged, checkpoint, `cancelled`
        "gone-after-cancel",  # stopped between its last `log` and anything else, after a cancel
        "gone",  # killed between its last `log` and anything else, nobody asked
    ],
)
def test_every_log_the_run_wrote_is_a_metrics_event_whatever_the_end(svc, end):
    job = _job(svc, validation_file=svc.add_file(A, "valid.jsonl", GOOD, "fine-tune")["id"])
    lines = CANCELLED_RUN.read_text().splitlines()
    logged = [json.loads(x)["step"] for x in lines if json.loads(x)["type"] == "log"]
    last_log = max(i for i, x in enumerate(lines) if json.loads(x)["type"] == "log")
    run_dir = _attach_run(svc, job, [], alive=True)
    rec = json.loads((svc.jobs_dir / f"{job['id']}.json").read_text())
    # Every third step is evaluated, so the last logged step (9) waits for an eval loss that never comes.
    rec["train"]["eval_steps"] = 3
    if end != "gone":
        rec["cancelled_at"] = int(json.loads(lines[last_log])["t"])
    (svc.jobs_dir / f"{job['id']}.json").write_text(json.dumps(rec))
    (run_dir / "events.jsonl").write_text("\n".join(lines[: last_log + 1]) + "\n")
    while_running = svc.events(A, job["id"])
    assert [e["data"]["step"] for e in while_running if e["type"] == "metrics"] == logged[:-1]  # 9 waits
    if end == "cancelled":
        (run_dir / "events.jsonl").write_text("\n".join(lines) + "\n")
    else:
        (run_dir / "pid").unlink()  # the process is gone without a final event
    after = svc.events(A, job["id"])
    assert after[: len(while_running)] == while_running  # nothing listed changes
    assert [e["data"]["step"] for e in after if e["type"] == "metrics"] == logged == list(range(1, 10))
    step9 = after[len(while_running)]["data"]
    assert (step9["step"], step9["total_steps"], step9["train_loss"]) == (9, 400, pytest.approx(5.90994))
    status = svc.public_job(svc.job(A, job["id"]).record)["status"]
    if end == "gone":
        assert status == "failed" and after[-1]["level"] == "error"
    else:
        assert status == "cancelled" and after[-1]["message"] == "Fine-tuning job cancelled"


@pytest.mark.skipif(local_model_dir(EMBEDDED) is None, reason="embedded model not converted on this machine")
@pytest.mark.parametrize("max_length", [1024, 16])
def test_a_succeeded_job_reports_the_tokens_it_trained(tmp_path, max_length):
    import shutil

    # The model's tokenizer files are all the count needs (no weights).
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        if (local_model_dir(EMBEDDED) / name).exists():
            shutil.copy(local_model_dir(EMBEDDED) / name, model_dir / name)
    svc = Service(
        Workspace.load(write_workspace(tmp_path / "ws", model=str(model_dir), train={"max_length": max_length}))
    )
    convs = [json.loads(x)["messages"] for x in GOOD.decode().splitlines()]
    per_pass = sum(min(n, max_length) for n in tokens.ChatTokenizer.from_dir(model_dir).count_many(convs))
    assert per_pass > 8 * 16 if max_length == 1024 else per_pass == 8 * 16  # the cap is the trainer's cut
    fid = svc.add_file(A, "train.jsonl", GOOD, "fine-tune")["id"]
    two = svc.create_job(A, {"model": "model", "training_file": fid, "hyperparameters": {"n_epochs": 2}})
    auto = svc.create_job(A, {"model": "model", "training_file": fid})  # OpenAI's rule: 12 epochs of 8 rows
    assert two["trained_tokens"] is None  # null until the job has succeeded, as OpenAI's is
    _attach_run(svc, two, [{"type": "finished", "adapter": "adapter", "runtime_s": 1.0}], alive=False)
    assert svc.public_job(svc.job(A, two["id"]).record)["trained_tokens"] == 2 * per_pass
    rec = json.loads((svc.jobs_dir / f"{auto['id']}.json").read_text())
    assert rec["trained_tokens"] == 12 * per_pass and rec["train"]["max_steps"] == 2 * 12
    svc.cancel(A, auto["id"])
    assert svc.public_job(svc.job(A, auto["id"]).record)["trained_tokens"] is None


def test_chat_takes_the_final_model_and_each_kept_checkpoint(svc):
    job = _job(svc, suffix="s")
    run_dir = _attach_run(
        svc,
        job,
        [
            {"type": "started", "model": "base-model", "method": "sft"},
            {"type": "checkpoint", "step": 2, "path": "checkpoints/checkpoint-2"},
            {"type": "checkpoint", "step": 4, "path": "checkpoints/checkpoint-4"},
            {"type": "finished", "adapter": "adapter", "runtime_s": 1.0},
        ],
        alive=False,
    )
    kept = run_dir / "checkpoints" / "checkpoint-4"  # the trainer rotated checkpoint-2 away
    kept.mkdir(parents=True)
    (kept / "adapter_config.json").write_text("{}")
    final = svc.public_job(svc.job(A, job["id"]).record)["fine_tuned_model"]
    listed = [c["fine_tuned_model_checkpoint"] for c in svc.checkpoints(A, job["id"])]
    assert listed == [f"{final}:ckpt-step-2", f"{final}:ckpt-step-4"]
    assert svc.chat_model(A, final) == (run_dir, run_dir / "adapter")
    assert svc.chat_model(A, listed[1]) == (run_dir, kept)
    for asked, says in [
        (listed[0], "is no longer kept"),
        (f"{final}:ckpt-step-3", "does not exist"),
        ("gpt-4o", "does not exist"),
    ]:
        with pytest.raises(ServiceError) as exc:
            svc.chat_model(A, asked)
        body = exc.value.body()["error"]
        assert exc.value.status == 404 and body["code"] == "model_not_found" and body["param"] == "model"
        assert says in body["message"] and f"serves base-model, {final}, and the checkpoints" in body["message"]
    for asked in (final, listed[1]):  # another key's model and checkpoints do not exist for this one
        with pytest.raises(ServiceError) as exc:
            svc.chat_model(B, asked)
        assert exc.value.status == 404 and final not in exc.value.message.replace(f"`{asked}`", "")
