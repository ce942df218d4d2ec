"""The forgetting check's core: per-task paired comparison, the verdict it changes, the settings."""

import pytest

from ftui.core.base.errors import ConfigError
from ftui.core.judge import forgetting
from ftui.core.judge.compare import build_report, forgetting_lines, with_forgetting
from ftui.core.workspace.workspace import Workspace


def scores(values):
    return {str(i): v for i, v in enumerate(values)}


def test_a_binary_task_gets_the_benchmarks_paired_statistics():
    # 20 documents: 12 passed both times, 1 fixed, 4 broken, 3 failed both times.
    base = [1] * 12 + [0] + [1] * 4 + [0] * 3
    tuned = [1] * 12 + [1] + [0] * 4 + [0] * 3
    row = forgetting.compare_task("arith", "acc", scores(base), scores(tuned), max_drop=0.1)
    assert row["n"] == 20 and row["paired"]
    assert row["base"] == pytest.approx(16 / 20) and row["tuned"] == pytest.approx(13 / 20)
    assert row["change"] == pytest.approx(-0.15) and row["flagged"]
    assert (row["fixed"], row["broke"]) == (1, 4)
    from ftui.core.judge.paired_stats import paired_summary

    assert row["ci"] == paired_summary(12, 1, 4, 3)["ci"]
    assert row["ci"][0] < row["change"] < row["ci"][1]
    # The same drop under a looser threshold is reported, not flagged.
    assert not forgetting.compare_task("arith", "acc", scores(base), scores(tuned), max_drop=0.2)["flagged"]


def test_only_documents_both_sides_answered_are_paired_and_other_metrics_get_a_mean_interval():
    row = forgetting.compare_task("ppl", "word_perplexity", {"0": 2.0, "1": 4.0, "9": 1.0}, {"0": 3.0, "1": 4.0}, 0.05)
    assert row["n"] == 2 and not row["paired"] and row["change"] == pytest.approx(0.5)
    assert row["ci"][0] < 0.5 < row["ci"][1]
    empty = forgetting.compare_task("none", "acc", {}, {"0": 1.0}, 0.05)
    assert empty["n"] == 0 and not empty["flagged"]


def _report():
    def rec(i, cluster, b, t):
        return {
            "id": f"{cluster}-{i}",
            "cluster": cluster,
            "question": "q",
            "expected": "x",
            "base_grade": {"passed": b, "reason": "", "grader": "contains"},
            "tuned_grade": {"passed": t, "reason": "", "grader": "contains"},
        }

    records = [rec(i, "target", False, True) for i in range(12)] + [rec(i, "other", True, True) for i in range(5)]
    return build_report(records, targeted_cluster="target")


def test_a_flagged_general_task_turns_ship_into_investigate_and_says_why():
    report = _report()
    assert report["verdict"]["verdict"] == "ship"
    drop = forgetting.compare_task("general", "acc", scores([1] * 10), scores([1] * 6 + [0] * 4), 0.05)
    held = forgetting.compare_task("facts", "acc", scores([1, 0] * 5), scores([1, 0] * 5), 0.05)
    summ = forgetting.summary({"tasks": [held, drop], "errors": ["task 'x': gone"], "max_drop": 0.05, "complete": True})
    judged = with_forgetting(report, summ)
    v = judged["verdict"]
    assert v["verdict"] == "investigate" and not v["ship"] and v["forgetting_flagged"] == ["general"]
    assert v["headline"].startswith(
        "Investigate before shipping: the cluster improved, no benchmark regressions, but general -40.0 pts (95% CI"
    )
    assert "eval.forgetting.max_drop (5 pts)" in v["advice"][0]
    assert judged["forgetting"]["tasks"][1]["task"] == "general"
    # Without a flagged task the verdict stays what the benchmark says.
    assert with_forgetting(report, forgetting.summary({"tasks": [held], "complete": True}))["verdict"]["ship"]
    text = "\n".join(forgetting_lines(summ))
    assert "general" in text and "DROP" in text and "task 'x': gone" in text


def test_workspace_forgetting_section(tmp_path):
    (tmp_path / "log.jsonl").write_text('{"question_id": "a", "question": "q", "answer": "a", "grade": "correct"}\n')
    (tmp_path / "tasks").mkdir()
    base = "run_log: log.jsonl\neval:\n  forgetting:\n"
    (tmp_path / "ftui.yaml").write_text(base + "    tasks: [arc_easy, mine]\n    include_path: tasks\n    limit: 10\n")
    fg = Workspace.load(tmp_path).eval.forgetting
    assert fg.tasks == ["arc_easy", "mine"] and fg.include_path == "tasks" and fg.limit == 10 and fg.max_drop == 0.05
    (tmp_path / "ftui.yaml").write_text(base + "    tasks: [a]\n    include_path: nowhere\n")
    with pytest.raises(ConfigError, match="include_path: no such folder: nowhere"):
        Workspace.load(tmp_path)
    (tmp_path / "ftui.yaml").write_text(base + "    tasks: [a]\n    max_drops: 0.1\n")
    with pytest.raises(ConfigError, match="did you mean `max_drop`"):
        Workspace.load(tmp_path)
