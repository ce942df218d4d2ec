"""`ftui service` end to end on a tiny Llama, driven by the real `openai` client: files, supervised and
DPO jobs to `succeeded`, events and checkpoints, chat with the `ft:` model, cancel, keys kept apart,
a malformed upload, a restart in the middle of a job, and `ftui hosted submit` against it."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from ftui.cli import main
from ftui.core.base import events, jobs, tokens
from ftui.core.hosted import hosted
from ftui.core.hosted import service as ft_service
from ftui.core.runs import runs
from ftui.core.ship import exports, serving
from ftui.core.workspace.workspace import Workspace
from tests.fixtures.tiny_build import write_workspace

pytest.importorskip("fastapi")
pytestmark = pytest.mark.slow

KEY_A, KEY_B = "key-alice", "key-bob"
BUILD = Path("builds") / "b0000000001"
DONE = ("succeeded", "failed", "cancelled")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Running:
    def __init__(self, ws_dir: Path, port: int):
        self.ws_dir, self.port = ws_dir, port
        self.url = f"http://127.0.0.1:{port}/v1"
        self.base = ft_service.base_model_name(Workspace.load(ws_dir).model)

    def start(self) -> None:
        assert main(["service", str(self.ws_dir), "--port", str(self.port), "--detach"]) == 0

    def stop(self) -> None:
        assert main(["service", "-w", str(self.ws_dir), "--stop"]) == 0

    def client(self, key: str = KEY_A, **kw):
        from openai import OpenAI

        return OpenAI(base_url=self.url, api_key=key, max_retries=0, timeout=900, **kw)


@pytest.fixture(scope="module")
def service(tiny_model_dir, tmp_path_factory):
    ws_dir = write_workspace(tmp_path_factory.mktemp("svc") / "ws", model=str(tiny_model_dir), train={"device": "cpu"})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ft_service.KEYS_ENV, f"{KEY_A},{KEY_B}")
        mp.setenv("HF_HUB_OFFLINE", "1")
        svc = Running(ws_dir, _free_port())
        svc.start()
        try:
            yield svc
        finally:
            svc.stop()
            for info in runs.list_runs(Workspace.load(ws_dir)):  # leave no training behind
                if info.state == "running" and info.config.get("kind") != "hosted":
                    jobs.request_stop(info.dir)


def _rows(ws_dir: Path, name: str, keys: tuple[str, ...]) -> bytes:
    rows = [json.loads(x) for x in (ws_dir / ".ftui" / BUILD / name).read_text().splitlines()]
    return "".join(json.dumps({k: r[k] for k in keys}) + "\n" for r in rows).encode()


def _upload(client, ws_dir: Path, name: str) -> str:
    return client.files.create(file=(name, _rows(ws_dir, name, ("messages",))), purpose="fine-tune").id


def _upload_pairs(client, ws_dir: Path, name: str) -> str:
    rows = [json.loads(x) for x in (ws_dir / ".ftui" / BUILD / name).read_text().splitlines()]
    body = "".join(
        json.dumps(
            {"input": {"messages": r["prompt"]}, "preferred_output": r["chosen"], "non_preferred_output": r["rejected"]}
        )
        + "\n"
        for r in rows
    )
    return client.files.create(file=(name, body.encode()), purpose="fine-tune").id


def _wait(client, job_id: str, until=lambda j: j.status in DONE, timeout: float = 900):
    deadline = time.monotonic() + timeout
    while True:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if until(job):
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job.status}"
        time.sleep(1)


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(kv.split("=", 1) for kv in raw.decode(errors="replace").split("\0") if "=" in kv)


def _events(client, job_id: str) -> list:
    return list(reversed(list(client.fine_tuning.jobs.list_events(job_id, limit=100))))


def _metrics(client, job_id: str) -> list[dict]:
    return [e.data for e in _events(client, job_id) if e.type == "metrics"]


def test_keys_are_required_and_kept_apart(service):
    import openai

    with pytest.raises(openai.AuthenticationError) as exc:
        service.client("not-a-key").fine_tuning.jobs.list()
    assert exc.value.body["code"] == "invalid_api_key" and exc.value.status_code == 401
    a, b = service.client(KEY_A), service.client(KEY_B)
    fid = _upload(a, service.ws_dir, "train.jsonl")
    with pytest.raises(openai.NotFoundError):
        b.fine_tuning.jobs.create(model=service.base, training_file=fid)
    assert fid not in [f.id for f in b.files.list()]
    with pytest.raises(openai.NotFoundError):
        b.fine_tuning.jobs.retrieve("ftjob-0123456789abcdef01234567")
    with pytest.raises(openai.NotFoundError):
        b.files.delete(fid)
    assert a.files.content(fid).read() == _rows(service.ws_dir, "train.jsonl", ("messages",))
    assert a.files.delete(fid).deleted and fid not in [f.id for f in a.files.list()]
    # Keys never reach the disk; only their hashes do.
    for p in (service.ws_dir / ".ftui" / ft_service.SERVICE_DIR).rglob("*.json"):
        text = p.read_text()
        assert KEY_A not in text and KEY_B not in text


def test_malformed_upload_fails_the_job_with_openais_error(service):
    import openai

    a = service.client()
    good = json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})
    bad = good + "\n{not json\n" + json.dumps({"messages": [{"role": "user", "content": "q"}]}) + "\n"
    fid = a.files.create(file=("bad.jsonl", bad.encode()), purpose="fine-tune").id
    job = a.fine_tuning.jobs.create(model=service.base, training_file=fid)
    assert job.status == "failed" and job.finished_at is not None
    assert job.error.code == "invalid_training_file" and job.error.param == "training_file"
    assert "bad.jsonl:2" in job.error.message and "bad.jsonl:3" in job.error.message
    assert [e.level for e in _events(a, job.id)][-1] == "error"
    with pytest.raises(openai.BadRequestError) as exc:
        a.files.create(file=("x.jsonl", good.encode()), purpose="batch")
    assert exc.value.body["param"] == "purpose"
    with pytest.raises(openai.BadRequestError, match="not available"):
        a.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=fid)


def test_supervised_job_succeeds_and_its_model_answers(service):
    import openai

    a, b = service.client(KEY_A), service.client(KEY_B)
    train = _upload(a, service.ws_dir, "train.jsonl")
    valid = _upload(a, service.ws_dir, "eval.jsonl")
    job = a.fine_tuning.jobs.create(
        model=service.base,
        training_file=train,
        validation_file=valid,
        suffix="paths",
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": 4}}},
    )
    assert job.status in ("queued", "running") and job.hyperparameters.n_epochs == 2
    job = _wait(a, job.id)
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model == f"ft:{service.base}:ftui:paths:{job.id.split('-')[1][:8]}"
    # OpenAI's trained_tokens: each example as the model's chat template renders it, times the epochs.
    ws = Workspace.load(service.ws_dir)
    convs = [json.loads(x)["messages"] for x in _rows(service.ws_dir, "train.jsonl", ("messages",)).splitlines()]
    counts = tokens.ChatTokenizer.from_dir(ws.model).count_many(convs)
    assert job.trained_tokens == 2 * sum(min(n, ws.train.max_length) for n in counts) > 0
    metrics = _metrics(a, job.id)
    assert [m["step"] for m in metrics] == [1, 2, 3, 4, 5, 6] and all(m["total_steps"] == 6 for m in metrics)
    assert all(isinstance(m["train_loss"], float) for m in metrics)
    assert [m["step"] for m in metrics if "full_valid_loss" in m] == [2, 4, 6]
    cps = list(a.fine_tuning.jobs.checkpoints.list(job.id))
    assert sorted(c.step_number for c in cps) == [2, 4, 6]
    assert all(c.fine_tuned_model_checkpoint.startswith(job.fine_tuned_model + ":ckpt-step-") for c in cps)
    assert job.id in [j.id for j in a.fine_tuning.jobs.list()]
    # The job is an ordinary run of the workspace: `ftui runs` and the workbench list it.
    info = next(r for r in runs.list_runs(Workspace.load(service.ws_dir)) if r.config.get("service_job") == job.id)
    assert info.state == "finished" and info.method == "sft" and info.step == 6

    # The other key cannot see it, use it, or cancel it.
    with pytest.raises(openai.NotFoundError):
        b.fine_tuning.jobs.retrieve(job.id)
    with pytest.raises(openai.NotFoundError):
        b.fine_tuning.jobs.cancel(job.id)
    assert job.fine_tuned_model not in [m.id for m in b.models.list()]
    assert job.fine_tuned_model in [m.id for m in a.models.list()]
    with pytest.raises(openai.NotFoundError):
        b.chat.completions.create(model=job.fine_tuned_model, messages=[{"role": "user", "content": "x"}])

    pytest.importorskip("llama_cpp")
    msgs = [{"role": "user", "content": "Where is validate_path defined?"}]
    tuned = a.chat.completions.create(model=job.fine_tuned_model, messages=msgs, max_tokens=4, temperature=0)
    base = a.chat.completions.create(model=service.base, messages=msgs, max_tokens=4, temperature=0)
    assert tuned.model == job.fine_tuned_model and base.model == service.base
    assert tuned.choices[0].message.role == "assistant" and tuned.usage.completion_tokens >= 1
    stream = a.chat.completions.create(
        model=job.fine_tuned_model, messages=msgs, max_tokens=4, temperature=0, stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == tuned.choices[0].message.content  # greedy both times: the same answer, streamed
    # A listed checkpoint is a model too: its own adapter from the run's checkpoints folder.
    ckpt = next(c.fine_tuned_model_checkpoint for c in cps if c.step_number == 4)
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        b.chat.completions.create(model=ckpt, messages=msgs, max_tokens=4)
    mid = a.chat.completions.create(model=ckpt, messages=msgs, max_tokens=4, temperature=0)
    assert mid.model == ckpt and mid.choices[0].message.role == "assistant" and mid.usage.completion_tokens >= 1
    name = f"{exports.export_name('gguf', serving.DEFAULT_QUANT)}-checkpoint-4"
    exported = _run_dir(service, job.id) / exports.EXPORTS_DIR / name / exports.MANIFEST
    assert json.loads(exported.read_text())["adapter"].endswith("checkpoints/checkpoint-4")

    # The model server behind the chat answers no one without the service's per-start secret.
    inference = ft_service.service_dir(Workspace.load(service.ws_dir)) / "inference"
    url = json.loads((inference / "config.json").read_text())["base_url"]
    assert serving.served_models(url) is None and serving.served_models(url, api_key=KEY_A) is None
    from openai import OpenAI

    local = OpenAI(base_url=url, api_key="anything", max_retries=0, timeout=60)
    with pytest.raises(openai.AuthenticationError):
        local.chat.completions.create(model=job.fine_tuned_model, messages=msgs, max_tokens=2)
    server_pid = jobs.read_pid(inference)
    assert (
        ft_service.KEYS_ENV not in _environ(server_pid)
        and "api_key" not in (inference / "llama_cpp_server.json").read_text()
    )


def test_a_killed_service_takes_its_model_server_with_it(service):
    pytest.importorskip("llama_cpp")
    a = service.client()
    msgs = [{"role": "user", "content": "hi"}]
    assert a.chat.completions.create(model=service.base, messages=msgs, max_tokens=2, temperature=0).choices
    root = ft_service.service_dir(Workspace.load(service.ws_dir))
    server_pid, service_pid = jobs.read_pid(root / "inference"), jobs.read_pid(root)
    assert jobs.pid_alive(server_pid)
    os.kill(service_pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while jobs.pid_alive(server_pid):  # it saw its parent go and stopped itself
        assert time.monotonic() < deadline, "the model server outlived its killed service"
        time.sleep(0.2)
    while jobs.pid_alive(service_pid):
        time.sleep(0.1)
    service.start()
    assert a.models.list().data  # the restarted service answers


def test_cancel_a_running_job(service):
    import openai

    a = service.client()
    train = _upload(a, service.ws_dir, "train.jsonl")
    job = a.fine_tuning.jobs.create(
        model=service.base, training_file=train, hyperparameters={"n_epochs": 40, "batch_size": 1}
    )
    _wait(a, job.id, until=lambda j: j.status in DONE or len(_metrics(a, j.id)) >= 1)
    cancelled = a.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled"
    run_dir = _run_dir(service, job.id)
    _wait_ended(run_dir)
    assert runs.read_state(run_dir).state == "cancelled"
    assert a.fine_tuning.jobs.retrieve(job.id).status == "cancelled"
    assert _events(a, job.id)[-1].message == "Fine-tuning job cancelled"
    assert len(_metrics(a, job.id)) < 40 * 12
    # Every step the run logged, the last one before the stop too, is a metrics event.
    logged = [e["step"] for e in events.read_events(run_dir / "events.jsonl")[0] if e["type"] == "log"]
    assert [m["step"] for m in _metrics(a, job.id)] == logged and logged
    with pytest.raises(openai.BadRequestError, match="already cancelled"):
        a.fine_tuning.jobs.cancel(job.id)


def test_dpo_job_succeeds(service):
    a = service.client()
    train = _upload_pairs(a, service.ws_dir, "dpo_train.jsonl")
    valid = _upload_pairs(a, service.ws_dir, "dpo_eval.jsonl")
    job = a.fine_tuning.jobs.create(
        model=service.base,
        training_file=train,
        validation_file=valid,
        method={"type": "dpo", "dpo": {"hyperparameters": {"n_epochs": 1, "beta": 0.2, "batch_size": 4}}},
    )
    assert job.method.type == "dpo" and job.method.dpo.hyperparameters.beta == 0.2
    job = _wait(a, job.id)
    assert job.status == "succeeded", job.error
    metrics = _metrics(a, job.id)
    assert [m["step"] for m in metrics] == [1, 2, 3] and "full_valid_loss" in metrics[-1]
    cfg = runs.read_run_config(_run_dir(service, job.id))
    assert (cfg["method"], cfg["beta"]) == ("dpo", 0.2)


def _wait_ended(run_dir: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while runs.read_state(run_dir).state == "running":
        assert time.monotonic() < deadline, f"{run_dir.name} still running"
        time.sleep(1)


def _run_dir(service, job_id: str) -> Path:
    rec = json.loads((service.ws_dir / ".ftui" / "service" / "jobs" / f"{job_id}.json").read_text())
    return service.ws_dir / ".ftui" / "runs" / rec["run_id"]


def test_restart_mid_job_loses_nothing(service):
    a = service.client()
    # The rows four times over, 50 epochs (OpenAI's most): 1,200 steps, which no machine finishes
    # while the service restarts; it is cancelled at the end.
    rows = _rows(service.ws_dir, "train.jsonl", ("messages",)) * 4
    train = a.files.create(file=("train.jsonl", rows), purpose="fine-tune").id
    job = a.fine_tuning.jobs.create(
        model=service.base, training_file=train, hyperparameters={"n_epochs": 50, "batch_size": 2}
    )
    _wait(a, job.id, until=lambda j: j.status in DONE or len(_metrics(a, j.id)) >= 2)
    before_events = [e.model_dump() for e in _events(a, job.id)]
    before_jobs = {j.id: j.status for j in a.fine_tuning.jobs.list(limit=100)}
    before_files = sorted(f.id for f in a.files.list())

    service.stop()
    try:
        pid = jobs.read_pid(_run_dir(service, job.id))
        assert pid is not None and jobs.pid_alive(pid)  # the training goes on without the service
        assert _environ(pid).get(ft_service.KEYS_ENV) is None  # the service's keys stay with the service
    finally:
        service.start()

    after_events = [e.model_dump() for e in _events(a, job.id)]
    assert after_events[: len(before_events)] == before_events
    after_jobs = {j.id: j.status for j in a.fine_tuning.jobs.list(limit=100)}
    assert set(after_jobs) == set(before_jobs)
    # Every job that had ended keeps its outcome; another test's job may end while the service is down.
    assert {k: after_jobs[k] for k, v in before_jobs.items() if v in DONE} == {
        k: v for k, v in before_jobs.items() if v in DONE
    }
    assert sorted(f.id for f in a.files.list()) == before_files
    seen = len([e for e in before_events if e["type"] == "metrics"])
    _wait(a, job.id, until=lambda j: j.status in DONE or len(_metrics(a, j.id)) >= seen + 2)
    assert a.fine_tuning.jobs.cancel(job.id).status == "cancelled"
    steps = [m["step"] for m in _metrics(a, job.id)]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= seen + 2  # every step, in order
    ids = [e.id for e in _events(a, job.id)]
    assert len(ids) == len(set(ids))
    run_dir = _run_dir(service, job.id)
    _wait_ended(run_dir)


def test_a_dead_training_reads_as_failed(service):
    a = service.client()
    train = _upload(a, service.ws_dir, "train.jsonl")
    job = a.fine_tuning.jobs.create(model=service.base, training_file=train, hyperparameters={"n_epochs": 40})
    _wait(a, job.id, until=lambda j: j.status in DONE or len(_metrics(a, j.id)) >= 1)
    run_dir = _run_dir(service, job.id)
    pid = jobs.read_pid(run_dir)
    os.killpg(os.getpgid(pid), signal.SIGKILL)  # the machine lost the process: no final event
    deadline = time.monotonic() + 30
    while jobs.pid_alive(pid):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    failed = a.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed" and failed.error.code == "server_error"
    assert "without a final event" in failed.error.message
    assert _events(a, job.id)[-1].level == "error"


def test_hosted_submit_runs_a_build_through_the_service(service, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", KEY_B)
    submit = ["hosted", "submit", str(service.ws_dir), "--base-url", service.url, "--model", service.base]
    rc = main([*submit, "--epochs", "1", "--follow", "--interval", "1"])
    assert rc == 0, capsys.readouterr()
    run = next(r for r in runs.list_runs(Workspace.load(service.ws_dir)) if r.config.get("kind") == "hosted")
    evs, _ = events.read_events(run.dir / "events.jsonl")
    assert run.state == "finished" and run.adapter.startswith(f"ft:{service.base}:ftui::")
    assert [e["step"] for e in evs if e["type"] == "log"] == [1, 2, 3]
    assert [e["step"] for e in evs if e["type"] == "eval"]  # the build's validation rows give an eval loss
    assert [e["type"] for e in evs].count("checkpoint") >= 1
    assert next(e for e in evs if e["type"] == "finished")["trained_tokens"] > 0  # the job's, as the client got it
    assert hosted.tuned_endpoint(run.dir)["model"] == run.adapter

    # Judged as the CLI and the Compare pane do: both sides are the service's models, by name.
    pytest.importorskip("llama_cpp")
    from ftui.core.judge import evalrun
    from ftui.engine.judge.evaluate import main as eval_main

    with open(service.ws_dir / "runs.jsonl", "a") as fh:
        for i in range(2):  # benchmark items the build did not train on
            item = {"question_id": f"b{i}", "question": f"q{i}?", "answer": "a", "grade": "correct"}
            fh.write(json.dumps(item | {"expected_answer": "a"}) + "\n")
    ws = Workspace.load(service.ws_dir)
    evalrun.write_plan(evalrun.plan_eval(ws, run.dir))
    assert eval_main(run.dir) == 0
    report = evalrun.read_report(run.dir)
    assert report["sides"] == {
        "base": f"endpoint:{service.url}:{service.base}",
        "tuned": f"endpoint:{service.url}:{run.adapter}",
    }
    assert len(report["items"]) == 2
