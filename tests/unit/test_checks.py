from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from ftui.core.base.tokens import ChatTokenizer
from ftui.core.build import checks, formats
from ftui.core.build.checks.runner import _display

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "datasets"


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    return ChatTokenizer.from_dir(tiny_model_dir)


def kinds(report):
    return [(f.where.rsplit(":", 1)[-1], f.level, f.kind) for f in report.findings]


def test_openai_file_with_three_problems_reports_exactly_those_three(tok):
    r = checks.run_checks(FIX / "openai_three_findings.jsonl", tokenizer=tok, max_length=1024)
    assert r.format == "openai-chat" and r.examples == 6
    assert kinds(r) == [
        ("2", "warning", "no_system_message"),
        ("4", "warning", "no_user_message"),
        ("5", "warning", "truncated"),
    ]
    assert r.ok
    shown = _display(FIX / "openai_three_findings.jsonl")  # relative to the cwd when below it
    assert shown.endswith("openai_three_findings.jsonl") and all(f.where.startswith(shown + ":") for f in r.findings)
    t = r.tokens
    assert t["count"] == 6 and t["max"] > 1024 and t["min"] < 100
    assert t["truncated"] == [{"where": r.findings[2].where, "id": r.findings[2].id, "tokens": t["max"]}]
    assert sum(b["count"] for b in t["histogram"]) == 6


def test_every_openai_format_error_kind(tok):
    r = checks.run_checks(FIX / "openai_errors.jsonl", tokenizer=tok)
    assert kinds(r) == [
        ("2", "error", "not_an_object"),
        ("3", "error", "missing_messages"),
        ("4", "error", "missing_messages"),
        ("5", "error", "message_missing_key"),
        ("6", "error", "unrecognized_key"),
        ("7", "error", "unrecognized_role"),
        ("8", "error", "missing_content"),
        ("9", "error", "no_assistant_message"),
        ("10", "error", "not_json"),
    ]
    assert not r.ok and r.tokens["count"] == 1  # only the good example is tokenised


def test_quality_checks_use_the_seed_thresholds():
    r = checks.run_checks(FIX / "quality.jsonl")
    assert kinds(r) == [
        ("1", "warning", "instruction_too_short"),
        ("2", "warning", "instruction_too_long"),
        ("3", "warning", "output_too_short"),
        ("4", "warning", "repetitive_output"),
    ]
    loose = checks.run_checks(FIX / "quality.jsonl", limits=checks.QualityLimits(instruction_max_chars=5000))
    assert "instruction_too_long" not in loose.by_kind()


def test_exact_near_duplicates_and_conflicting_answers():
    r = checks.run_checks(FIX / "duplicates.jsonl")
    assert kinds(r) == [
        ("3", "warning", "exact_duplicate"),
        ("4", "warning", "near_duplicate"),
        ("5", "warning", "conflicting_answers"),
    ]
    assert "duplicates.jsonl:1" in r.findings[1].message
    strict = checks.run_checks(FIX / "duplicates.jsonl", near_threshold=0.99)
    assert "near_duplicate" not in strict.by_kind()


def test_leakage_into_heldout_exact_is_an_error_near_is_a_warning():
    refs = checks.references_from_rows(formats.read(FIX / "leak_heldout.jsonl").rows, "held-out")
    r = checks.run_checks(FIX / "leak_train.jsonl", references=refs)
    assert kinds(r) == [("1", "error", "leak_exact"), ("2", "warning", "leak_near")]
    assert "held-out item h1" in r.findings[0].message and "h2" in r.findings[1].message
    assert r.findings[0].id == "t1"
    assert checks.run_checks(FIX / "leak_train.jsonl").findings == []


def test_preference_pairs(tok):
    r = checks.run_checks(FIX / "preference.jsonl", tokenizer=tok)
    assert r.format == "trl-preference"
    assert kinds(r) == [("2", "warning", "chosen_equals_rejected"), ("3", "error", "no_assistant_message")]
    assert r.tokens["count"] == 2


def test_rows_from_the_api_are_named_by_id(tok):
    rows = [
        {
            "id": "q1",
            "messages": [
                {"role": "user", "content": "Where is f defined?"},
                {"role": "assistant", "content": "src/a.py"},
            ],
        },
        {"messages": [{"role": "system", "content": "s"}, {"role": "assistant", "content": "hello there"}]},
    ]
    r = checks.run_checks(rows, tokenizer=tok)
    assert [(f.where, f.kind) for f in r.findings] == [("q1", "no_system_message"), ("row 2", "no_user_message")]


def test_template_that_refuses_an_example_is_an_error(tiny_model_dir, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(tiny_model_dir, d)
    (d / "chat_template.jinja").write_text(
        "{% for m in messages %}{% if m.role == 'user' and loop.index0 % 2 == 0 %}"
        "{{ raise_exception('roles must alternate') }}{% endif %}{{ m.content }}{% endfor %}"
    )
    tok = ChatTokenizer.from_dir(d)
    rows = [
        {
            "id": "ok",
            "messages": [
                {"role": "system", "content": "sys"},
                {"role": "user", "content": "question here"},
                {"role": "assistant", "content": "answer"},
            ],
        },
        {
            "id": "bad",
            "messages": [{"role": "user", "content": "question here?"}, {"role": "assistant", "content": "answer!"}],
        },
    ]
    r = checks.run_checks(rows, tokenizer=tok)
    errs = [(f.where, f.kind) for f in r.errors]
    assert errs == [("bad", "template_error")]
    assert "roles must alternate" in r.errors[0].message
    assert r.tokens["count"] == 1


@pytest.mark.parametrize("n,epochs", [(10, 10), (20, 5), (34, 3), (1000, 3), (9000, 2), (30000, 1), (2, 25)])
def test_hosted_epochs_follow_openai_rule(n, epochs):
    h = checks.hosted_estimate([100] * n)
    assert h["epochs"] == epochs
    assert h["billed_tokens"] == 100 * n * epochs


def test_hosted_tokens_are_capped_at_the_context_limit(tok):
    h = checks.hosted_estimate([50, 20_000], context_limit=16_385, epochs=2)
    assert (
        h["tokens_per_epoch"] == 50 + 16_385 and h["billed_tokens"] == 2 * (50 + 16_385) and h["capped_examples"] == 1
    )
    r = checks.run_checks(FIX / "openai_three_findings.jsonl", tokenizer=tok, hosted=True, context_limit=1000)
    assert r.hosted["examples"] == 6 and r.hosted["epochs"] == 16  # 100 // 6
    assert r.hosted["tokens_per_epoch"] == sum(min(1000, c) for c in _counts(tok))


def _counts(tok):
    return [tok.count(row["messages"]) for row in formats.read(FIX / "openai_three_findings.jsonl").rows]


def test_near_duplicate_search_finds_every_planted_copy():
    rng = random.Random(3)
    words = [f"w{i}" for i in range(3000)]
    rows = []
    for i in range(400):
        text = " ".join(rng.choice(words) for _ in range(120))
        rows.append(
            {
                "id": f"o{i}",
                "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "ok fine"}],
            }
        )
    planted = set()
    for i in range(0, 400, 8):
        toks = rows[i]["messages"][0]["content"].split()
        toks[rng.randrange(len(toks))] = "changed"
        rows.append(
            {
                "id": f"c{i}",
                "messages": [{"role": "user", "content": " ".join(toks)}, {"role": "assistant", "content": "ok fine"}],
            }
        )
        planted.add(f"c{i}")
    r = checks.run_checks(rows)
    assert {f.id for f in r.findings if f.kind == "near_duplicate"} == planted


def test_report_json_shape_for_the_ui(tok):
    r = checks.run_checks(FIX / "openai_three_findings.jsonl", tokenizer=tok, hosted=True)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["ok"] is True and d["errors"] == 0 and d["warnings"] == 3
    assert d["by_kind"] == {"no_system_message": 1, "no_user_message": 1, "truncated": 1}
    assert {"level", "kind", "where", "message", "id"} == set(d["findings"][0])
    assert {"min", "mean", "max", "histogram", "truncated", "max_length"} <= set(d["tokens"])
    assert "3 warnings" in r.text()


def test_same_evidence_with_another_question_is_neither_duplicate_nor_leak():
    evidence = "\n".join(f"def step_{i}(state): return transform_{i}(state, weight_{i})" for i in range(40))
    sys_m = {"role": "system", "content": "You are a code assistant."}

    def row(rid, question, answer):
        return {
            "id": rid,
            "messages": [
                sys_m,
                {"role": "user", "content": f"Evidence:\n{evidence}\n\nQuestion: {question}"},
                {"role": "assistant", "content": answer},
            ],
        }

    train = [
        row("a", "Where is step_3 defined?", "In pipeline.py, line 4."),
        row("b", "What does step_7 return for an empty state?", "It returns transform_7 of the empty state."),
        row("c", "Where is step_3 defined in this code?", "In pipeline.py, line 4."),
    ]
    held = [row("h", "Which weight does step_9 use?", "weight_9.")]
    r = checks.run_checks(train, references=checks.references_from_rows(held, "held-out"))
    assert [(f.where, f.kind) for f in r.findings] == [("c", "near_duplicate")]
    assert checks.question_of(train[0]["messages"][1]["content"], checks.DEFAULT_PATTERN) == "Where is step_3 defined?"
    custom = checks.template_pattern("Q: {question}\n---\n{evidence}\n{{literal}}")
    assert checks.question_of("Q: why?\n---\ncode\n{literal}", custom) == "why?"


def test_findings_group_by_level_and_kind_in_order_of_first_appearance():
    fs = [
        checks.Finding("error", "unrecognized_role", "a.jsonl:3", "message 1 has unrecognized role 'bot'"),
        checks.Finding("warning", "no_system_message", "a.jsonl:3", "no system message"),
        checks.Finding("error", "unrecognized_role", "a.jsonl:9", "message 2 has unrecognized role 'human'"),
        checks.Finding("warning", "no_system_message", "b.jsonl:1", "no system message"),
    ]
    groups = checks.group_findings(fs)
    assert [(g.level, g.kind, g.count) for g in groups] == [
        ("error", "unrecognized_role", 2),
        ("warning", "no_system_message", 2),
    ]
    # Messages that differ within a kind say the line shows one of them; places of two files stay whole.
    assert groups[0].line() == "error: e.g. message 1 has unrecognized role 'bot' [unrecognized_role] ×2: a.jsonl:3, 9"
    assert groups[1].line() == "warning: no system message [no_system_message] ×2: a.jsonl:3, b.jsonl:1"
    assert groups[1].places(shown=1) == "a.jsonl:3 and 1 more"
    single = checks.group_findings(fs[:1])[0]
    assert single.line() == str(fs[0]) == "a.jsonl:3: error: message 1 has unrecognized role 'bot' [unrecognized_role]"
