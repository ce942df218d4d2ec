"""`ftui service` against hostile and heavy callers, in process (the ASGI app, no training): wrong
types and ranges, files that are not UTF-8, deletes racing lists, a crash inside a request, one
key's large file check beside another key's requests, oversized uploads and headers, the Host
header, throttled key guessing, the model server's key and parent, and a fuzz of the job body."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pathlib
import signal
import socket
import stat
import subprocess
import threading
import time

import pytest

pytest.importorskip("fastapi")

from ftui.core.base import jobs
from ftui.core.hosted import service as ft_service
from ftui.core.hosted.service import Service, owner_of
from ftui.core.hosted.service_request import AuthThrottle, Limits
from ftui.core.ship import serving
from ftui.core.workspace.workspace import Workspace
from ftui.engine.hosted import guard, inference
from ftui.engine.hosted import service as app_mod
from tests.fixtures.tiny_build import write_workspace

KEY_A, KEY_B = "key-a", "key-b"
KEYS = frozenset({owner_of(KEY_A), owner_of(KEY_B)})
ROW = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
GOOD = ("\n".join(json.dumps(ROW) for _ in range(8)) + "\n").encode()


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def svc(tmp_path, monkeypatch) -> Service:
    s = Service(Workspace.load(write_workspace(tmp_path / "ws", model="base-model")))
    monkeypatch.setattr(s, "tick", lambda: [])  # no training starts in these tests
    return s


def _client(svc: Service, **kw):
    from starlette.testclient import TestClient

    base_url = kw.pop("base_url", "http://testserver")
    return TestClient(app_mod.create_app(svc, KEYS, **kw), base_url=base_url)


def _upload(client, key: str = KEY_A, content: bytes = GOOD, name: str = "train.jsonl"):
    return client.post("/v1/files", headers=_auth(key), files={"file": (name, content)}, data={"purpose": "fine-tune"})


def _openai_error(resp, status: int, param: str | None = "any") -> dict:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    assert err["type"] == ("server_error" if status >= 500 else "invalid_request_error")
    if param != "any":
        assert err["param"] == param
    return err


@pytest.mark.parametrize(
    "extra,param",
    [
        ({"suffix": 123}, "suffix"),
        ({"suffix": "abc\n"}, "suffix"),
        ({"suffix": "x" * 65}, "suffix"),
        ({"hyperparameters": "abc"}, "hyperparameters"),
        ({"hyperparameters": {"n_epochs": 1e9}}, "n_epochs"),
        ({"hyperparameters": {"n_epochs": 51}}, "n_epochs"),
        ({"hyperparameters": {"batch_size": 1e9}}, "batch_size"),
        ({"hyperparameters": {"batch_size": 257}}, "batch_size"),
        ({"hyperparameters": {"learning_rate_multiplier": 0}}, "learning_rate_multiplier"),
        ({"hyperparameters": {"learning_rate_multiplier": True}}, "learning_rate_multiplier"),
        ({"method": {"type": ["supervised"]}}, "method"),
        ({"method": "supervised"}, "method"),
        ({"method": {"type": "supervised", "supervised": []}}, "method.supervised"),
        ({"method": {"type": "dpo", "dpo": {"hyperparameters": {"beta": 3}}}}, "beta"),
        ({"validation_file": 123}, "validation_file"),
        ({"training_file": ["file-1"]}, "training_file"),
        ({"model": {"a": 1}}, "model"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**40}, "seed"),
        ({"metadata": {"k": 1}}, "metadata"),
        ({"metadata": [1]}, "metadata"),
        ({"integrations": [{"type": "wandb"}]}, "integrations"),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
def test_wrong_types_and_ranges_are_400_with_the_param(svc, extra, param):
    with _client(svc) as c:
        fid = _upload(c).json()["id"]
        resp = c.post(
            "/v1/fine_tuning/jobs", headers=_auth(KEY_A), json={"model": "base-model", "training_file": fid} | extra
        )
    _openai_error(resp, 400, param)
    assert svc.list_jobs(owner_of(KEY_A)) == []  # refused before any work


@pytest.mark.parametrize("body", [b"\xff\xfe\x00binary\x00" * 50, "caf\xe9 latin-1\n".encode("latin-1")])
def test_a_file_that_is_not_utf8_fails_its_job(svc, body):
    with _client(svc) as c:
        fid = _upload(c, content=body, name="data.jsonl").json()["id"]
        resp = c.post("/v1/fine_tuning/jobs", headers=_auth(KEY_A), json={"model": "base-model", "training_file": fid})
    assert resp.status_code == 200, resp.text
    job = resp.json()
    assert job["status"] == "failed" and job["error"]["code"] == "invalid_training_file"
    assert "data.jsonl: not UTF-8" in job["error"]["message"] and str(svc.root) not in job["error"]["message"]


def test_a_file_deleted_while_listed_is_left_out(svc, monkeypatch):
    a = owner_of(KEY_A)
    kept = svc.add_file(a, "kept.jsonl", GOOD, "fine-tune")["id"]
    gone = svc.add_file(a, "gone.jsonl", GOOD, "fine-tune")["id"]
    real = pathlib.Path.read_text

    def racing(self, *args, **kw):  # the delete lands between the listing and the read
        if self.name == f"{gone}.json" and self.exists():
            self.unlink()
            self.with_suffix(".jsonl").unlink()
        return real(self, *args, **kw)

    monkeypatch.setattr(pathlib.Path, "read_text", racing)
    assert [f["id"] for f in svc.list_files(a)] == [kept]


def test_an_unexpected_error_is_a_500_in_openais_shape_with_the_logged_request_id(svc, monkeypatch, caplog):
    def broken(_owner):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(svc, "list_files", broken)
    with caplog.at_level(logging.ERROR, logger="ftui.service"), _client(svc) as c:
        resp = c.get("/v1/files", headers=_auth(KEY_A))
    err = _openai_error(resp, 500, None)
    rid = resp.headers["x-request-id"]
    assert rid.startswith("req_") and rid in err["message"] and "disk on fire" not in err["message"]
    assert any(rid in r.getMessage() and r.exc_info for r in caplog.records)


def test_every_refusal_is_openais_error_body(svc):
    with _client(svc) as c:
        _openai_error(c.get("/v1/nowhere", headers=_auth(KEY_A)), 404)
        _openai_error(c.put("/v1/files", headers=_auth(KEY_A)), 405)
        _openai_error(c.get("/v1/files"), 401)
        _openai_error(c.post("/v1/fine_tuning/jobs", headers=_auth(KEY_A), content=b"{not json"), 400)
        _openai_error(c.post("/v1/fine_tuning/jobs", headers=_auth(KEY_A), json=[1]), 400)
        _openai_error(c.post("/v1/files", headers=_auth(KEY_A), content=b"x"), 400, "file")
        _openai_error(c.post("/v1/chat/completions", headers=_auth(KEY_A), json={"model": 5}), 400, "model")
        resp = c.post("/v1/chat/completions", headers=_auth(KEY_B), json={"model": "ft:base-model:ftui::abc"})
        _openai_error(resp, 404, "model")


def test_uploads_are_limited_owner_only_and_keep_only_the_base_name(svc):
    svc.limits = Limits(upload_bytes=4096)
    with _client(svc) as c:
        ok = _upload(c, content=GOOD, name="../../etc/passwd")
        assert ok.status_code == 200 and ok.json()["filename"] == "passwd"
        assert _openai_error(_upload(c, content=b"x" * 5000), 413, "file")["code"] == "file_too_large"
        # A body past the limit plus the form's overhead is refused from its declared length.
        assert _openai_error(_upload(c, content=b"x" * 200_000), 413, "file")["code"] == "file_too_large"
        # Sent in chunks with no declared length, it is refused as the bytes arrive.
        form = (
            b'--B\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n'
            b'--B\r\nContent-Disposition: form-data; name="file"; filename="t.jsonl"\r\n\r\n'
            + b"x" * 200_000
            + b"\r\n--B--\r\n"
        )
        chunked = c.post(
            "/v1/files",
            headers=_auth(KEY_A) | {"Content-Type": "multipart/form-data; boundary=B"},
            content=(form[i : i + 8192] for i in range(0, len(form), 8192)),
        )
        assert "content-length" not in {k.lower() for k in chunked.request.headers}
        assert _openai_error(chunked, 413, "file")["code"] == "file_too_large"
    with pytest.raises(ft_service.ServiceError, match="printable"):
        svc.add_file(owner_of(KEY_A), "a\nb.jsonl", GOOD, "fine-tune")
    data = sorted(svc.files_dir.glob("*.jsonl"))
    assert [p.stem for p in data] == [ok.json()["id"]]  # the refused uploads left nothing behind
    assert stat.S_IMODE(data[0].stat().st_mode) == 0o600


def test_steps_and_active_jobs_per_key_are_capped(svc):
    svc.limits = Limits(max_job_steps=10, max_active_per_key=2)
    with _client(svc) as c:
        fid = _upload(c).json()["id"]
        body = {"model": "base-model", "training_file": fid}
        big = c.post("/v1/fine_tuning/jobs", headers=_auth(KEY_A), json=body | {"hyperparameters": {"n_epochs": 50}})
        assert _openai_error(big, 400, "hyperparameters")["code"] == "job_too_large"
        small = body | {"hyperparameters": {"n_epochs": 2}}
        assert [c.post("/v1/fine_tuning/jobs", headers=_auth(KEY_A), json=small).status_code for _ in range(2)] == [
            200,
            200,
        ]
        third = c.post("/v1/fine_tuning/jobs", headers=_auth(KEY_A), json=small)
        assert _openai_error(third, 429, None)["code"] == "rate_limit_exceeded"
        # Another key has its own share.
        fid_b = _upload(c, KEY_B).json()["id"]
        mine = {"model": "base-model", "training_file": fid_b, "hyperparameters": {"n_epochs": 2}}
        assert c.post("/v1/fine_tuning/jobs", headers=_auth(KEY_B), json=mine).status_code == 200
        # A cancelled job frees its place.
        first = svc.list_jobs(owner_of(KEY_A))[0]["id"]
        assert c.post(f"/v1/fine_tuning/jobs/{first}/cancel", headers=_auth(KEY_A)).status_code == 200
        assert c.post("/v1/fine_tuning/jobs", headers=_auth(KEY_A), json=small).status_code == 200


def test_failed_keys_are_throttled_per_address(svc):
    throttle = AuthThrottle(limit=3, window_s=60)
    with _client(svc, throttle=throttle) as c:
        for _ in range(3):
            _openai_error(c.get("/v1/files", headers=_auth("guess")), 401)
        err = _openai_error(c.get("/v1/files", headers=_auth(KEY_A)), 429)  # even a right key, from there
        assert err["code"] == "rate_limit_exceeded"
    t = [0.0]
    later = AuthThrottle(limit=1, window_s=10, clock=lambda: t[0])
    later.failed("10.0.0.1")
    assert later.blocked("10.0.0.1") == 10 and later.blocked("10.0.0.2") == 0
    t[0] = 11
    assert later.blocked("10.0.0.1") == 0


def test_a_loopback_service_answers_only_loopback_host_names(svc):
    with _client(svc, bind_host="127.0.0.1", base_url="http://127.0.0.1:8800") as c:
        assert c.get("/v1/files", headers=_auth(KEY_A)).status_code == 200
        assert c.get("/v1/files", headers=_auth(KEY_A) | {"Host": "localhost:8800"}).status_code == 200
        assert c.get("/v1/files", headers=_auth(KEY_A) | {"Host": "[::1]:8800"}).status_code == 200
        evil = c.get("/v1/files", headers=_auth(KEY_A) | {"Host": "attacker.example:8800"})
        assert _openai_error(evil, 421, None)["code"] == "invalid_host"
    with _client(svc, bind_host="0.0.0.0") as c:  # listening wider, the user chose the names
        assert c.get("/v1/files", headers=_auth(KEY_A) | {"Host": "gpu-box:8800"}).status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_oversized_headers_get_431_in_openais_shape(svc):
    import uvicorn

    port = _free_port()
    config = uvicorn.Config(
        app_mod.create_app(svc, KEYS),
        host="127.0.0.1",
        port=port,
        log_level="error",
        http=guard.header_limited_protocol(),
        h11_max_incomplete_event_size=guard.MAX_HEADER_BYTES,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            huge = b"Bearer " + b"k" * (1 << 20)
            s.sendall(b"GET /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " + huge + b"\r\n\r\n")
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
    finally:
        server.should_exit = True
        thread.join(10)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431")
    assert json.loads(body)["error"]["code"] == "headers_too_large"


def test_one_keys_file_check_does_not_stall_another_key(svc, monkeypatch):
    """The check runs in a worker thread: while it is held, another key's requests are answered."""
    import httpx2

    checking, release = threading.Event(), threading.Event()
    real = svc.check_file

    def slow_check(*args, **kw):
        checking.set()
        release.wait(20)
        return real(*args, **kw)

    monkeypatch.setattr(svc, "check_file", slow_check)
    fid = svc.add_file(owner_of(KEY_A), "t.jsonl", GOOD, "fine-tune")["id"]

    async def scenario() -> None:
        app = app_mod.create_app(svc, KEYS)
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app), base_url="http://t") as c:
            body = {"model": "base-model", "training_file": fid}
            # More job requests than the server has worker threads, every one held in its check.
            creates = [
                asyncio.create_task(c.post("/v1/fine_tuning/jobs", headers=_auth(KEY_A), json=body)) for _ in range(50)
            ]
            while not checking.is_set():
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)
            other = await asyncio.wait_for(c.get("/v1/files", headers=_auth(KEY_B)), timeout=10)
            assert other.status_code == 200 and not release.is_set()
            release.set()
            codes = [r.status_code for r in await asyncio.gather(*creates)]
            assert codes.count(200) == svc.limits.max_active_per_key and set(codes) == {200, 429}

    try:
        asyncio.run(scenario())
    finally:
        release.set()


def test_two_keys_at_once_lose_nothing_and_never_500(svc):
    """Uploads, deletes, lists and job creation from two keys, all in flight together."""
    import httpx2

    async def scenario() -> None:
        app = app_mod.create_app(svc, KEYS)
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app), base_url="http://t") as c:

            async def upload(key: str) -> tuple[str, str]:
                files = {"file": ("t.jsonl", GOOD)}
                r = await c.post("/v1/files", headers=_auth(key), files=files, data={"purpose": "fine-tune"})
                assert r.status_code == 200, r.text
                return key, r.json()["id"]

            first = {k: [f for _, f in await asyncio.gather(*(upload(k) for _ in range(6)))] for k in (KEY_A, KEY_B)}
            tasks = []
            for key in (KEY_A, KEY_B):
                tasks += [upload(key) for _ in range(8)]
                tasks += [c.delete(f"/v1/files/{fid}", headers=_auth(key)) for fid in first[key][:3]]
                tasks += [c.get("/v1/files", headers=_auth(key)) for _ in range(10)]
                job = {"model": "base-model", "training_file": first[key][5], "hyperparameters": {"n_epochs": 1}}
                tasks += [c.post("/v1/fine_tuning/jobs", headers=_auth(key), json=job) for _ in range(3)]
            results = await asyncio.gather(*tasks)
            added: dict[str, set[str]] = {KEY_A: set(), KEY_B: set()}
            for r in results:
                if isinstance(r, tuple):
                    added[r[0]].add(r[1])
                else:
                    assert r.status_code == 200, r.text
            for key in (KEY_A, KEY_B):
                listed = {f["id"] for f in (await c.get("/v1/files", headers=_auth(key))).json()["data"]}
                assert listed == set(first[key][3:]) | added[key] and len(listed) == 3 + 8
                jobs_listed = (await c.get("/v1/fine_tuning/jobs", headers=_auth(key))).json()["data"]
                assert len(jobs_listed) == 3 and all(j["status"] == "queued" for j in jobs_listed)

    asyncio.run(scenario())


def test_the_keys_leave_the_environment_before_any_child_starts():
    env = {ft_service.KEYS_ENV: "k1, k2", "PATH": "/bin"}
    assert ft_service.take_keys(env) == {owner_of("k1"), owner_of("k2")}
    assert env == {"PATH": "/bin"}
    with pytest.raises(ft_service.ServiceError, match="no keys"):
        ft_service.take_keys({})


def test_a_child_gets_a_secret_in_its_environment_only(tmp_path, monkeypatch):
    seen = {}

    class Proc:
        pid = 4242

    def popen(args, **kw):
        seen.update(kw["env"])
        return Proc()

    monkeypatch.setattr(jobs.subprocess, "Popen", popen)
    jobs.start_child(["serve", "x"], tmp_path / "job", "log", extra_env={serving.API_KEY_ENV: "s3cret"})
    assert seen[serving.API_KEY_ENV] == "s3cret" and serving.API_KEY_ENV not in os.environ


def test_an_orphaned_model_server_is_stopped_on_restart(svc):
    server = inference.Inference(svc)
    server.dir.mkdir(parents=True)
    (server.dir / "config.json").write_text(json.dumps({"base_url": "http://127.0.0.1:1/v1", "models": []}))
    orphan = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        (server.dir / "pid").write_text(f"{orphan.pid}\n")
        assert server._running_names() is None  # not this service's: it must not be used
        inference.Inference(svc).stop()
        assert orphan.wait(timeout=20) == -signal.SIGTERM
    finally:
        if orphan.poll() is None:
            orphan.kill()


def test_the_model_server_ends_with_its_parent():
    from ftui.engine.ship.serve import watch_parent

    parent = subprocess.Popen(["sleep", "60"])
    gone = threading.Event()
    watch_parent(parent.pid, gone.set, poll=0.05)
    time.sleep(0.2)
    assert not gone.is_set()
    parent.kill()
    assert gone.wait(10)
    parent.wait()


def _json_values():
    from hypothesis import strategies as st

    # No subnormal floats: a library built with fast-math, loaded earlier in the same test process,
    # turns them off process-wide and Hypothesis then refuses to draw them.
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**63)
        | st.floats(allow_subnormal=False)
        | st.text(max_size=80)
    )
    return st.recursive(
        scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    )


def _job_bodies():
    """Job bodies near OpenAI's schema: each field absent, well formed, or any JSON value."""
    from hypothesis import strategies as st

    hyper = st.fixed_dictionaries(
        {},
        optional={
            "n_epochs": st.sampled_from(["auto", 1, 2, 50, 51, 0, 1e9]) | _json_values(),
            "batch_size": st.sampled_from(["auto", 1, 256, 257]) | _json_values(),
            "learning_rate_multiplier": st.sampled_from(["auto", 0.5, 0, -1, float("inf")]) | _json_values(),
            "beta": st.sampled_from([0.1, 2, 3]) | _json_values(),
        },
    )
    method = st.fixed_dictionaries(
        {"type": st.sampled_from(["supervised", "dpo", "reinforcement"]) | _json_values()},
        optional={"supervised": st.fixed_dictionaries({}, optional={"hyperparameters": hyper}) | _json_values()},
    )
    well_formed = st.fixed_dictionaries(
        {"model": st.just("base-model"), "training_file": st.just("FID")},
        optional={
            "hyperparameters": st.fixed_dictionaries(
                {}, optional={"n_epochs": st.integers(1, 50), "batch_size": st.integers(1, 256)}
            ),
            "suffix": st.from_regex(r"[a-z0-9]{1,10}", fullmatch=True),
            "seed": st.integers(0, 2**31 - 1),
        },
    )
    return (
        well_formed
        | st.fixed_dictionaries(
            {},
            optional={
                "model": st.just("base-model") | _json_values(),
                "training_file": st.just("FID") | _json_values(),
                "validation_file": st.just("FID") | _json_values(),
                "hyperparameters": hyper | _json_values(),
                "method": method | _json_values(),
                "suffix": st.from_regex(r"[A-Za-z0-9_.-]{0,70}\n?", fullmatch=True) | _json_values(),
                "seed": st.integers(-5, 2**32) | _json_values(),
                "metadata": st.dictionaries(st.text(max_size=70), st.text(max_size=10), max_size=18) | _json_values(),
            },
        )
        | _json_values()
    )


def test_fuzzed_job_bodies_get_a_job_or_openais_4xx_never_a_500(tmp_path_factory, monkeypatch):
    from hypothesis import HealthCheck, given, settings

    svc = Service(Workspace.load(write_workspace(tmp_path_factory.mktemp("fuzz") / "ws", model="base-model")))
    svc.limits = Limits(max_active_per_key=10**6)
    monkeypatch.setattr(svc, "tick", lambda: [])
    fid = svc.add_file(owner_of(KEY_A), "t.jsonl", GOOD, "fine-tune")["id"]

    with _client(svc) as c:

        @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(_job_bodies())
        def check(body):
            if isinstance(body, dict):  # the file id the strategies stand for, so some bodies make a job
                body = {k: (fid if v == "FID" else v) for k, v in body.items()}
            resp = c.post("/v1/fine_tuning/jobs", headers=_auth(KEY_A), content=json.dumps(body))
            assert resp.status_code < 500, (body, resp.text)
            if resp.status_code == 200:
                assert resp.json()["object"] == "fine_tuning.job"
                made.append(body)
            else:
                _openai_error(resp, resp.status_code)

        made: list = []
        check()
    assert made  # some bodies were well formed: the test also sees jobs made


def test_a_checker_process_checks_the_files_and_a_dead_one_is_replaced(svc):
    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    a = owner_of(KEY_A)
    svc.limits = Limits(max_job_steps=10)
    svc.new_checker = lambda: ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    try:
        good = svc.add_file(a, "t.jsonl", GOOD, "fine-tune")["id"]
        job = svc.create_job(a, {"model": "base-model", "training_file": good, "hyperparameters": {"n_epochs": 2}})
        assert job["status"] == "queued" and (svc.builds_dir / job["id"] / "train.jsonl").is_file()
        bad = svc.add_file(a, "b.jsonl", b"\xff\xfe", "fine-tune")["id"]
        failed = svc.create_job(a, {"model": "base-model", "training_file": bad})
        assert failed["error"]["code"] == "invalid_training_file"
        with pytest.raises(ft_service.ServiceError) as exc:  # raised in the checker, the same error here
            svc.create_job(a, {"model": "base-model", "training_file": good, "hyperparameters": {"n_epochs": 50}})
        assert exc.value.status == 400 and exc.value.code == "job_too_large"
    finally:
        svc.close()

    class Dead:
        def submit(self, *args, **kw):
            f: Future = Future()
            f.set_exception(BrokenProcessPool("killed"))
            return f

        def shutdown(self, **kw):
            pass

    made = []
    svc.new_checker = lambda: made.append(Dead()) or made[-1]
    for _ in range(2):
        with pytest.raises(ft_service.ServiceError) as exc:
            svc.create_job(a, {"model": "base-model", "training_file": good})
        assert exc.value.status == 503
    assert len(made) == 2  # a new checker for the next job


def test_an_upload_is_copied_to_disk_in_chunks_never_read_whole(svc):
    import io

    asked: list[int] = []

    class Stream(io.BytesIO):
        def read(self, size=-1):
            asked.append(size)
            return super().read(size)

    body = GOOD * 40_000  # about 3 MB
    rec = svc.add_file(owner_of(KEY_A), "big.jsonl", Stream(body), "fine-tune")
    assert rec["bytes"] == len(body) and (svc.files_dir / f"{rec['id']}.jsonl").read_bytes() == body
    assert asked and all(0 < n <= 1 << 20 for n in asked)
