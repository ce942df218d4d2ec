"""The pass rule: grades of any type judged by one rule, shown as logged."""

from __future__ import annotations

import pytest

from ftui.core.base.errors import ConfigError
from ftui.core.logs.passrule import PassRule, PassRuleConfig, show_grade
from ftui.core.workspace.workspace import Workspace
from tests.fixtures.runlogs import make_workspace, row


def test_threshold_values_and_legacy_text():
    at_least = PassRule.from_config(PassRuleConfig(at_least=7), ())
    assert at_least.passes(7) and at_least.passes(9.5) and not at_least.passes(6) and not at_least.passes(None)
    assert at_least.problem("C") == "grade 'C' is text, but the pass rule compares numbers (grade >= 7)"
    assert at_least.problem(True).startswith("grade true is boolean")
    at_most = PassRule.from_config(PassRuleConfig(at_most=0.2), ())
    assert at_most.passes(0.1) and not at_most.passes(0.3)
    letters = PassRule.from_config(PassRuleConfig(values=["C", "P"]), ())
    assert letters.passes("C") and not letters.passes("I") and letters.problem(1) is not None
    bools = PassRule.from_config(PassRuleConfig(values=[True]), ())
    # True == 1 in Python; a 1.0 score must not pass a rule of booleans.
    assert bools.passes(True) and not bools.passes(False) and not bools.passes(1) and bools.problem(1.0)
    legacy = PassRule.from_config(None, ("correct", "acceptable"))
    assert legacy.passes("acceptable") and legacy.passes(True) and not legacy.passes(False)
    assert "pass_rule: {at_least: N}" in legacy.problem(7)


@pytest.mark.parametrize(
    ("value", "shown"), [(None, "—"), (True, "true"), (False, "false"), (7, "7"), (0.5, "0.5"), (1.0, "1"), ("C", "C")]
)
def test_grades_are_shown_as_logged(value, shown):
    assert show_grade(value) == shown


def test_workspace_pass_rule_and_repeat_rate(tmp_path):
    rows = [row("a", grade=8), row("b", grade=3)]
    ws = Workspace.load(make_workspace(tmp_path / "w", rows, "pass_rule: {at_least: 7}\nmin_repeat_rate: 0.5\n"))
    assert ws.is_passing(8) and not ws.is_passing(3) and ws.min_repeat_rate == 0.5
    assert ws.rule.describe() == "grade >= 7"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("pass_rule: {at_least: 7}\npassing_grades: [ok]\n", ":2: set either pass_rule or passing_grades, not both"),
        ("pass_rule: {}\n", ":2: pass_rule needs at_least, at_most or values"),
        (
            "pass_rule: {at_least: 1, values: [C]}\n",
            ":2: pass_rule: use a threshold (at_least/at_most) or values, not both",
        ),
        ("pass_rule: {at_lest: 1}\n", ":2: unknown key `pass_rule.at_lest` (did you mean `at_least`?)"),
        ("min_repeat_rate: 2\n", ":2: min_repeat_rate must be in [0, 1]"),
        (
            "source: lm-eval\n",
            ":2: unknown source 'lm-eval' (did you mean `lm_eval`?); one of lm_eval, promptfoo, inspect, openai_evals, mt_bench, mt_bench_pair, alpaca_eval, pairwise",
        ),
    ],
)
def test_bad_rules_are_one_line_config_errors(tmp_path, config, message):
    make_workspace(tmp_path / "w", [row("a")], config)
    with pytest.raises(ConfigError) as exc:
        Workspace.load(tmp_path / "w")
    assert str(exc.value).endswith(message), str(exc.value)
