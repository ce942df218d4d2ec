from types import SimpleNamespace

import pytest

from ftui.core.grade.grading import Grade, GradingError, extract_json, grade, normalize, spec_for

EXPECTED_JSON = '{"file_path": "utils/security.py", "symbol": "validate_path"}'


def test_exact():
    assert grade("  validate_path ", "validate_path", {"kind": "exact"}).passed
    g = grade("Validate_path", "validate_path", {"kind": "exact"})
    assert not g.passed and "differs" in g.reason and g.grader == "exact"


def test_normalized_ignores_case_space_punctuation():
    assert normalize("  The  ANSWER: validate_path()! ") == "the answer validate path"
    assert grade("Validate Path.", "validate_path", {"kind": "normalized"}).passed
    assert not grade("validate_paths", "validate_path", {"kind": "normalized"}).passed


def test_contains_is_the_seed_rule():
    g = grade("It lives in utils/Security.py, line 3", "utils/security.py", "contains")
    assert g.passed and "contains" in g.reason
    g = grade("It lives in utils/", "utils/security.py", "contains")
    assert not g.passed and "does not contain" in g.reason


def test_no_expected_answer_fails_with_reason():
    g = grade("anything", None, "contains")
    assert not g.passed and "no expected answer" in g.reason


def test_regex_uses_pattern_or_expected():
    assert grade("raises ValueError on escape", None, {"kind": "regex", "pattern": r"raises \w+Error"}).passed
    g = grade("returns True", None, {"kind": "regex", "pattern": r"raises \w+Error"})
    assert not g.passed and "no match" in g.reason
    assert grade("answer: 42", r"\b42\b", {"kind": "regex"}).passed
    assert grade("RAISES", None, {"kind": "regex", "pattern": "raises", "ignore_case": True}).passed
    with pytest.raises(GradingError):
        grade("x", None, {"kind": "regex", "pattern": "(unclosed"})


@pytest.mark.parametrize(
    "answer",
    [
        EXPECTED_JSON,
        '```json\n{"file_path": "utils/security.py", "symbol": "validate_path", "line": 3}\n```',
        'Sure! Here is the JSON: {"symbol": "validate_path", "file_path": "utils/security.py"} Hope it helps.',
    ],
)
def test_json_fields_pass(answer):
    g = grade(answer, EXPECTED_JSON, {"kind": "json_fields", "fields": ["file_path", "symbol"]})
    assert g.passed, g.reason


def test_json_fields_wrong_field_names_it():
    ans = '{"file_path": "validate_path", "symbol": "utils/security.py"}'
    g = grade(ans, EXPECTED_JSON, {"kind": "json_fields", "fields": ["file_path"]})
    assert not g.passed
    assert "`file_path`" in g.reason and "utils/security.py" in g.reason


def test_json_fields_missing_field_and_default_fields():
    g = grade('{"file_path": "utils/security.py"}', EXPECTED_JSON, {"kind": "json_fields"})
    assert not g.passed and "missing field `symbol`" in g.reason


def test_json_fields_invalid_json_fails_with_that_reason():
    g = grade('{"file_path": "utils/security.py", "symbol": }', EXPECTED_JSON, {"kind": "json_fields"})
    assert not g.passed and g.reason.startswith("answer is not JSON: invalid JSON")
    g = grade("The file is utils/security.py", EXPECTED_JSON, {"kind": "json_fields"})
    assert not g.passed and "no JSON object found" in g.reason


def test_extract_json_skips_braces_in_prose():
    obj, err = extract_json('use {braces} like {"a": 1}')
    assert obj == {"a": 1} and err is None


def test_judge_without_config_is_an_error_not_a_fail():
    with pytest.raises(GradingError):
        grade("x", "y", {"kind": "judge"})


def test_judge_delegates_and_keeps_reason():
    class J:
        def verdict(self, question, answer, expected):
            return (answer == expected, f"judged {question}")

    g = grade("a", "a", {"kind": "judge"}, question="q1", judge=J())
    assert g == Grade(True, "judged q1", "judge")


def test_spec_for_precedence():
    ev = SimpleNamespace(
        grader={"kind": "contains"},
        by_label={"wrong_field": {"kind": "json_fields", "fields": ["file_path"]}},
        by_task={"locate": {"kind": "exact"}},
    )
    ws = SimpleNamespace(eval=ev)
    assert spec_for(ws, SimpleNamespace(label="wrong_field", task="locate"))["kind"] == "json_fields"
    assert spec_for(ws, SimpleNamespace(label="other", task="locate"))["kind"] == "exact"
    assert spec_for(ws, {"label": None, "task": None}) == {"kind": "contains"}
