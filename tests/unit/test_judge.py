import json

import pytest

from ftui.core.grade.grading import grade
from ftui.core.grade.llm_judge import Judge, JudgeError, parse_verdict
from tests.fixtures.chat_server import ChatServer

RUBRIC = 'Grade the answer. Reply with JSON {"pass": true|false, "reason": "..."}'


def strict_judge(body: dict) -> str:
    user = body["messages"][-1]["content"]
    expected = user.split("EXPECTED ANSWER:\n", 1)[1].split("\n\nANSWER TO GRADE:", 1)[0]
    answer = user.split("ANSWER TO GRADE:\n", 1)[1]
    ok = expected.lower() in answer.lower()
    why = "mentions the expected file" if ok else "names the wrong file"
    return f'```json\n{{"pass": {json.dumps(ok)}, "reason": "{why}"}}\n```'


def make(server, tmp_path, **kw):
    return Judge(
        base_url=server.base_url,
        model="judge-model",
        rubric=RUBRIC,
        api_key_env="FTUI_TEST_JUDGE_KEY",
        cache_path=tmp_path / "cache" / "judge.jsonl",
        **kw,
    )


def test_judge_grades_through_a_chat_endpoint_and_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("FTUI_TEST_JUDGE_KEY", "sk-local")
    with ChatServer(strict_judge) as server:
        judge = make(server, tmp_path)
        g = grade("It is in utils/security.py", "utils/security.py", {"kind": "judge"}, question="Where?", judge=judge)
        assert g.passed and g.grader == "judge" and "mentions the expected file" in g.reason
        g = grade("It is in main.py", "utils/security.py", {"kind": "judge"}, question="Where?", judge=judge)
        assert not g.passed and "wrong file" in g.reason
        assert len(server.requests) == 2
        req = server.requests[0]
        assert req["path"] == "/v1/chat/completions"
        assert req["auth"] == "Bearer sk-local"
        assert req["body"]["model"] == "judge-model" and req["body"]["temperature"] == 0
        assert req["body"]["messages"][0] == {"role": "system", "content": RUBRIC}

        # Same inputs again, and from a fresh Judge reading the disk cache: no new request.
        assert grade("It is in main.py", "utils/security.py", "judge", question="Where?", judge=judge).passed is False
        again = make(server, tmp_path)
        assert again.verdict("Where?", "It is in utils/security.py", "utils/security.py")[0] is True
        assert len(server.requests) == 2 and again.calls == 0
        # A different answer is a different key.
        again.verdict("Where?", "utils/security.py!", "utils/security.py")
        assert len(server.requests) == 3


def test_unreadable_reply_fails_with_reason_and_is_not_cached(tmp_path):
    with ChatServer(lambda body: "Hmm, hard to say.") as server:
        judge = make(server, tmp_path)
        ok, reason = judge.verdict("q", "a", "b")
        assert not ok and "not understood" in reason
        judge.verdict("q", "a", "b")
        assert len(server.requests) == 2


def test_http_error_names_the_key_variable(tmp_path):
    with ChatServer(strict_judge, status=401) as server, pytest.raises(JudgeError, match=r"\$FTUI_TEST_JUDGE_KEY"):
        make(server, tmp_path).verdict("q", "a", "b")


@pytest.mark.parametrize(
    "text,expected",
    [
        ('{"pass": true, "reason": "ok"}', (True, "ok")),
        ('Verdict: {"verdict": "fail", "reason": "off topic"}', (False, "off topic")),
        ("PASS - cites the right file", (True, "cites the right file")),
        ("fail", (False, "")),
        ("no idea", None),
    ],
)
def test_parse_verdict(text, expected):
    assert parse_verdict(text) == expected
