"""The GRPO pre-flight: k sampled answers per failure, graded by the item's own grader, say which
clusters can give a learning signal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftui.core.base import events
from ftui.core.build import learnability as lb
from ftui.engine.train import learnability as child

FIXTURE = Path(__file__).parent.parent / "fixtures" / "learnability" / "sample_result.json"


class ScriptedGenerator:
    """Answers by item: the first k answers of each item as scripted (the child asks k per item)."""

    def __init__(self, scripts: dict[str, list[str]], order: list[str]):
        self.scripts, self.order = scripts, order
        self.calls: list[dict] = []

    def generate(self, messages, **kwargs):
        self.calls.append(kwargs)
        out: list[str] = []
        for item_id in self.order:
            out.extend(self.scripts[item_id])
        if kwargs.get("progress"):
            kwargs["progress"](len(out), len(out))
        return out


def _item(item_id: str, cluster: str, expected: str, grader: dict) -> dict:
    return {
        "id": item_id,
        "cluster": cluster,
        "messages": [{"role": "user", "content": f"question {item_id}"}],
        "expected": expected,
        "question": f"question {item_id}",
        "grader": grader,
    }


def test_child_grades_k_answers_per_item_and_reports_signal(tmp_path):
    items = [
        _item("f1", "wrong_fact", "42", {"kind": "contains"}),
        _item("f2", "wrong_fact", "42", {"kind": "contains"}),
        _item("j1", "prose", '{"file_path": "a.py"}', {"kind": "json_fields", "fields": ["file_path"]}),
    ]
    k = 4
    (tmp_path / lb.CONFIG).write_text(
        json.dumps({"model": "m", "k": k, "max_new_tokens": 8, "temperature": 1.0, "steps": 30, "items": items})
    )
    gen = ScriptedGenerator(
        {
            "f1": ["it is 42", "41", "no", "42!"],
            "f2": ["42", "42", "42", "the answer: 42"],
            "j1": ["a.py is the file", "prose", "prose", "prose"],
        },
        ["f1", "f2", "j1"],
    )
    assert child.main(tmp_path, generator_factory=lambda cfg: gen) == 0
    assert gen.calls[0]["temperature"] == 1.0 and gen.calls[0]["max_new_tokens"] == 8
    evs, _ = events.read_events(tmp_path / lb.EVENTS)
    for e in evs:
        events.validate(e)
    assert evs[-1]["type"] == "finished" and "no signal: prose" in evs[-1]["message"]
    result = lb.read_result(tmp_path)
    assert [(it["id"], it["passes"], it["verdict"]) for it in result["items"]] == [
        ("f1", 2, "sometimes"),
        ("f2", 4, "always"),
        ("j1", 0, "never"),
    ]
    s = lb.summarize(result)
    assert s["no_signal"] == ["prose"] and s["learnable"] == ["wrong_fact"]
    wf = s["clusters"]["wrong_fact"]
    assert (wf["never"], wf["sometimes"], wf["always"], wf["learnable_ids"]) == (0, 1, 1, ["f1"])
    assert wf["learnable_share"] == 0.5 and wf["pass_rate"] == 6 / 8
    text = "\n".join(lb.report_lines(s))
    assert "prose: no signal" in text and "ftui draft run prose" in text
    assert s["estimated_sampling_s"] == pytest.approx(s["seconds_per_group"] * 30, abs=0.1)


def test_sample_measurement_says_prose_instead_of_json_has_no_signal():
    # Recorded by `ftui learnability --limit 8` on the sample with its embedded model (see docs/grpo.md).
    result = json.loads(FIXTURE.read_text())
    s = lb.summarize(result)
    assert "prose_instead_of_json" in s["no_signal"]
    assert {"wrong_fact", "vague_summary", "ignores_test_evidence"} <= set(s["learnable"])
    assert "prose_instead_of_json: no signal" in "\n".join(lb.report_lines(s))


def test_k_below_two_and_unknown_clusters_are_refused(tmp_path):
    from ftui.core.build.store import BuildError
    from tests.fixtures.datasets.workspace import make_workspace

    ws = make_workspace(tmp_path / "ws")
    with pytest.raises(BuildError, match="k must be at least 2"):
        lb.start(ws, k=1)
    with pytest.raises(BuildError, match="unknown cluster 'nope'"):
        lb.plan(ws, ["nope"])
    items = lb.plan(ws, ["hallucination"], limit=3)
    assert len(items) == 3 and all(it["cluster"] == "hallucination" and it["grader"]["kind"] for it in items)
