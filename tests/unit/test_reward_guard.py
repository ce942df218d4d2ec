"""The reward-hacking guard: a grader a constant answer satisfies lifts the training reward while
the validation probes (graded by the evaluation's graders) fall; the guard says so, once the
reward has risen, and stays quiet while reward and probes rise together."""

from __future__ import annotations

from ftui.core.grade.grading import grade
from ftui.core.runs import probes
from ftui.core.runs.reward_guard import check

# The training items' grader: a regex the constant answer "OK" satisfies, whatever the question.
HACKABLE = {"kind": "regex", "pattern": "OK"}
VALIDATION = [
    {"id": "v1", "role": "cluster", "expected": "A1:RIC-00003", "grader": {"kind": "contains"}},
    {"id": "v2", "role": "cluster", "expected": "shelf code first", "grader": {"kind": "contains"}},
    {"id": "a1", "role": "anchor", "expected": "utils/security.py", "grader": {"kind": "contains"}},
]


def _reward(answers: list[str]) -> float:
    return sum(grade(a, None, HACKABLE).passed for a in answers) / len(answers)


def _probe(step: int, answers: list[str]) -> dict:
    return {"step": step, **probes.grade_answers(VALIDATION, answers)}


def test_constant_answer_hack_fires_the_warning():
    # Early: varied answers, a few of which happen to say OK; the probes pass the real answers.
    early = ["It joins A1:RIC-00003", "OK, the shelf", "no idea", "the SKU"]
    honest = ["A1:RIC-00003", "shelf code first", "see utils/security.py"]
    # Later: the model has learned to answer "OK" to everything.
    hacked = ["OK"] * 4
    rewards = [(1, _reward(early)), (2, _reward(early)), (3, _reward(hacked)), (4, _reward(hacked))]
    history = [_probe(0, honest), _probe(2, honest)]
    assert check(rewards, history) == []  # no rise yet
    history.append(_probe(4, ["OK"] * 3))
    warnings = check(rewards, history)
    assert {w["reason"] for w in warnings} == {"validation_fell", "anchors_fell"}
    for w in warnings:
        assert w["step"] == 4 and w["reward_before"] == 0.25 and w["reward_now"] == 1.0
        assert "training reward rose 0.25 → 1.00" in w["message"]


def test_quiet_when_probes_rise_with_the_reward():
    rewards = [(1, 0.25), (2, 0.25), (3, 0.6), (4, 0.75)]
    history = [
        _probe(0, ["x", "y", "see utils/security.py"]),
        _probe(2, ["A1:RIC-00003", "y", "see utils/security.py"]),
        _probe(4, ["A1:RIC-00003", "shelf code first", "see utils/security.py"]),
    ]
    assert check(rewards, history) == []
    assert check(rewards, history[:1]) == []  # a baseline alone compares with nothing
