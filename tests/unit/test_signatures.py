"""Failure signatures: each one fires on the failure it names and not on a plain good answer."""

from __future__ import annotations

import json

import pytest

from ftui.core.grade.signatures import KEYS, signatures

JSON_EXPECTED = json.dumps({"file_path": "src/a.py", "symbol": "a"})


@pytest.mark.parametrize(
    ("question", "answer", "expected", "key"),
    [
        ("Where is a?", "It is defined in src/a.py.", JSON_EXPECTED, "prose_for_json"),
        ("Where is a?", '{"file_path": "src/a.py"}', JSON_EXPECTED, "json_missing_keys"),
        ("How many?", "three " * 100, "3", "too_long"),
        ("Explain it.", "No.", "x" * 400, "too_short"),
        ("Where is a?", "", "src/a.py", "empty"),
        ("What does it do?", "I'm sorry, but I cannot help with that.", "it adds", "refusal"),
        (
            "What does the parse_date function return?",
            "What does the parse_date function return? It",
            "a date",
            "repeats_question",
        ),
        (
            "Explain it.",
            "The function first reads the file and then it goes on to parse each of the lines into a record which it then stores in the table of the",
            "x",
            "truncated",
        ),
        (
            "What does the function return when empty?",
            "La fonction renvoie une valeur vide quand elle ne trouve rien dans les données.",
            "None",
            "other_language",
        ),
        ("What does it return?", "```python\nreturn None\n```", "None", "code_fence"),
        ("What is TOKEN_BYTES?", "TOKEN_BYTES is 16.", "24", "wrong_number"),
    ],
)
def test_each_signature_fires_on_its_failure(question, answer, expected, key):
    sig = signatures(question, answer, expected)
    assert sig[key], key


def test_a_good_answer_has_no_signature():
    assert not any(signatures("What is TOKEN_BYTES?", "TOKEN_BYTES is 24.", "24").values())
    assert not any(signatures("Where is a?", JSON_EXPECTED, JSON_EXPECTED).values())
    assert set(signatures("q", "a", None)) == set(KEYS)


def test_json_answer_in_a_fence_is_not_prose():
    sig = signatures("Where is a?", "```json\n" + JSON_EXPECTED + "\n```", JSON_EXPECTED)
    assert not sig["prose_for_json"] and not sig["json_missing_keys"]
