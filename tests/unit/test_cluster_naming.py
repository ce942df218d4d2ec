"""Naming discovered clusters with an LLM: the prompt is shown, replies are cached, hand names win."""

from __future__ import annotations

import json

import pytest

from ftui.cli import main
from tests.fixtures.chat_server import ChatServer
from tests.fixtures.unlabeled import make_unlabeled_workspace


def namer_reply(body: dict) -> str:
    user = body["messages"][-1]["content"]
    if "refuses" in user:
        return 'Sure: {"name": "Declines to answer", "description": "The model refuses instead of answering."}'
    if "JSON was expected" in user:
        return json.dumps({"name": "prose_not_json", "description": "Writes a sentence where a JSON object was asked."})
    return json.dumps({"name": "wrong_language", "description": "Answers in French."})


@pytest.fixture
def ws_dir(tmp_path):
    return make_unlabeled_workspace(tmp_path / "ws")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_llm_names_are_shown_cached_and_never_replace_a_hand_name(ws_dir, capsys):
    with ChatServer(namer_reply) as server:
        llm = ["--llm", "--llm-url", server.base_url, "--llm-model", "namer"]
        code, out, err = run(capsys, "discover", str(ws_dir), *llm, "--show-prompt")
        assert code == 0, err
        assert len(server.requests) == 3 and server.requests[0]["body"]["model"] == "namer"
        assert "--- prompt for refusal -> declines_to_answer ---" in out and "[system]" in out
        assert "EXPECTED:" in out and "Named by namer at " in out
        code, out, _ = run(capsys, "clusters", str(ws_dir), "--json")
        clusters = {c["label"]: c for c in json.loads(out)["clusters"]}
        assert set(clusters) == {"prose_not_json", "declines_to_answer", "wrong_language"}
        assert clusters["declines_to_answer"]["description"] == "The model refuses instead of answering."

        # Same clusters again: every name comes from the cache.
        code, out, _ = run(capsys, "discover", str(ws_dir), *llm, "--json")
        assert code == 0 and len(server.requests) == 3 and json.loads(out)["llm"]["requests"] == 0

        # A hand-given name is the user's: the next LLM naming leaves it alone.
        run(capsys, "cluster", "rename", "wrong_language", "french", "-w", str(ws_dir))
        code, out, _ = run(capsys, "discover", str(ws_dir), *llm, "--json")
        labels = {c["label"] for c in json.loads(out)["clusters"]}
        assert "french" in labels and "wrong_language" not in labels


def test_no_endpoint_is_a_clear_error(ws_dir, capsys):
    code, _, err = run(capsys, "discover", str(ws_dir), "--llm")
    assert code == 2 and "--llm-url" in err and "eval.judge" in err
