import json
from pathlib import Path

import pytest

from ftui.core.base.errors import InputError
from ftui.core.grade.grading import Grade
from ftui.core.judge.compare import bucket, build_report, load_report, mcnemar_exact, render_text, shared_traits

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "reports" / "report.json"


def rec(qid, cluster, base_ok, tuned_ok):
    return {
        "id": qid,
        "cluster": cluster,
        "question": f"question {qid}",
        "expected": "x",
        "base_answer": "b",
        "tuned_answer": "t",
        "base_grade": Grade(base_ok, "base reason", "contains"),
        "tuned_grade": {"passed": tuned_ok, "reason": "tuned reason", "grader": "contains"},
    }


@pytest.mark.parametrize(
    "b,c,p",
    [
        (10, 2, 0.03857421875),  # 2 * 79 / 4096
        (2, 10, 0.03857421875),
        (0, 0, 1.0),
        (1, 0, 1.0),
        (5, 0, 0.0625),
        (6, 0, 0.03125),
        (3, 3, 1.0),
        (20, 5, 0.004077),  # scipy.stats.binomtest(5, 25).pvalue
    ],
)
def test_mcnemar_exact_known_values(b, c, p):
    assert mcnemar_exact(b, c) == pytest.approx(p, rel=1e-3)


def test_mcnemar_rejects_negative():
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)


def test_buckets():
    assert bucket(False, True) == "fixed"
    assert bucket(True, False) == "regressed"
    assert bucket(False, False) == "still_failing"
    assert bucket(True, True) == "still_passing"


def test_buckets_and_rates_on_hand_made_report():
    recs = [
        rec("a1", "wrong_field", False, True),
        rec("a2", "wrong_field", False, True),
        rec("a3", "wrong_field", False, False),
        rec("a4", "wrong_field", True, True),
        rec("r1", "passing", True, True),
        rec("r2", "passing", True, False),
        rec("r3", "other", False, False),
    ]
    rep = build_report(recs, targeted_cluster="wrong_field", meta={"run_id": "r"})
    t, r = rep["targeted"], rep["rest"]
    assert (t["total"], t["base_passed"], t["tuned_passed"]) == (4, 1, 3)
    assert t["base_rate"] == 0.25 and t["tuned_rate"] == 0.75 and t["change"] == 0.5
    assert (r["total"], r["base_passed"], r["tuned_passed"]) == (3, 2, 1)
    assert r["change"] == pytest.approx(-1 / 3)
    assert rep["buckets"] == {"fixed": 2, "regressed": 1, "still_failing": 2, "still_passing": 2}
    assert rep["regressions"] == ["r2"] and rep["fixed"] == ["a1", "a2"]
    assert rep["mcnemar"]["p_value"] == pytest.approx(mcnemar_exact(2, 1))
    by = {it["id"]: it for it in rep["items"]}
    assert by["r2"]["was_anchor_like"] and not by["a1"]["was_anchor_like"]
    assert by["a1"]["targeted"] and not by["r1"]["targeted"]
    assert by["a1"]["tuned_grade"] == {"passed": True, "reason": "tuned reason", "grader": "contains"}
    text = render_text(rep)
    assert "Targeted cluster: wrong_field (4 items)" in text and "1/4" in text and "+50.0 pts" in text
    assert "Regressions: r2" in text


@pytest.mark.parametrize(
    "cluster_outcomes,rest_outcomes,verdict,ship",
    [
        ([(False, True)] * 8 + [(False, False)], [(True, True)], "ship", True),
        ([(False, True)] * 8 + [(False, False)], [(True, False)], "investigate", False),
        # One fixed item out of two: better, but the interval of the change still holds zero.
        ([(False, True), (False, False)], [(True, True)], "inconclusive", False),
        ([(False, True), (False, False)], [(True, False)], "inconclusive", False),
        # Two items, nothing changed: too few to say the cluster did not improve.
        ([(False, False), (True, True)], [(True, True)], "inconclusive", False),
        ([(False, False)], [(True, False)], "inconclusive", False),
        ([(False, True), (True, False)], [], "inconclusive", False),
        # Sixty items, nothing changed: the interval rules out a real gain.
        ([(False, False)] * 60, [(True, True)], "data_quality", False),
        ([(False, False)] * 60, [(True, False)], "stop", False),
        # The cluster got worse, and the interval says so.
        ([(True, False)] * 8, [], "stop", False),
    ],
)
def test_verdict_quadrants(cluster_outcomes, rest_outcomes, verdict, ship):
    recs = [rec(f"c{i}", "target", b, t) for i, (b, t) in enumerate(cluster_outcomes)]
    recs += [rec(f"o{i}", "passing", b, t) for i, (b, t) in enumerate(rest_outcomes)]
    v = build_report(recs, targeted_cluster="target")["verdict"]
    assert v["verdict"] == verdict and v["ship"] is ship
    assert v["ship_gate"]["open"] is (v["regressions"] == 0)


def test_ship_gate_names_the_regressed_anchors_and_advice():
    recs = [rec(f"c{i}", "target", False, True) for i in range(8)]
    recs += [rec("p1", "passing", True, False), rec("p2", "passing", True, True)]
    v = build_report(recs, targeted_cluster="target")["verdict"]
    assert v["ship_gate"] == {"open": False, "blocking_ids": ["p1"], "reason": v["ship_gate"]["reason"]}
    assert "p1" in v["ship_gate"]["reason"]
    assert any("anchor" in a.lower() for a in v["advice"]) and any("learning rate" in a for a in v["advice"])


def test_no_targeted_items_left_is_not_an_improvement():
    v = build_report([rec("p1", "passing", True, True)], targeted_cluster="target")["verdict"]
    assert v["verdict"] == "inconclusive" and "hold some out" in v["advice"][0]


def test_a_four_item_evaluation_is_inconclusive_and_names_the_few_shot_arm():
    # The cluster: 4 items, none fixed (interval about -49 to +49 points); few-shot fixed all 4.
    recs = [
        {**rec(f"c{i}", "target", False, False), "fewshot_answer": "s", "fewshot_grade": {"passed": True}}
        for i in range(4)
    ]
    recs.append({**rec("p1", "passing", True, True), "fewshot_answer": "s", "fewshot_grade": {"passed": True}})
    rep = build_report(recs, targeted_cluster="target", fewshot_k=4)
    v = rep["verdict"]
    assert v["verdict"] == "inconclusive" and not v["ship"]
    lo, hi = rep["targeted"]["ci"]
    assert lo < 0 < hi
    advice = " ".join(v["advice"])
    assert "on 4 items" in advice and "Few-shot prompting with 4" in advice and "4/4" in advice
    assert "try the prompt change" in advice
    text = render_text(rep)
    assert "INCONCLUSIVE" in text and "DATA QUALITY" not in text
    assert (
        "exact McNemar p=1: 0 fixed vs 0 regressed" in text and "mid-p McNemar on 0 fixed vs 0 regressed of 4" in text
    )


def test_few_shot_that_settles_the_cluster_says_not_needed_even_when_the_fine_tune_did_nothing():
    recs = [
        {**rec(f"c{i}", "target", False, False), "fewshot_answer": "s", "fewshot_grade": {"passed": True}}
        for i in range(10)
    ]
    v = build_report(recs, targeted_cluster="target", fewshot_k=3)["verdict"]
    assert v["verdict"] == "not_needed" and not v["ship"]


def test_fixture_report_is_current_and_loads():
    from tests.fixtures.reports.make_report import make

    stored = load_report(FIXTURE)
    fresh = json.loads(json.dumps(make()))
    assert stored == fresh, "regenerate with: python -m tests.fixtures.reports.make_report"
    assert set(stored["buckets"]) == {"fixed", "regressed", "still_failing", "still_passing"}
    assert all(stored["buckets"][b] > 0 for b in stored["buckets"])
    by = {it["id"]: it for it in stored["items"]}
    assert by["q03"]["bucket"] == "fixed" and "not JSON" in by["q03"]["base_grade"]["reason"]


def test_load_report_errors(tmp_path):
    with pytest.raises(InputError, match="no report yet"):
        load_report(tmp_path / "report.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{\n  nope")
    with pytest.raises(InputError, match=r"bad.json:2: invalid JSON"):
        load_report(bad)


def test_shared_traits():
    rep = json.loads(FIXTURE.read_text())
    regs = [it for it in rep["items"] if it["bucket"] == "regressed"]
    tr = shared_traits(regs)
    assert tr["count"] == 1 and tr["clusters"][0][0] == "passing" and tr["graders"][0][0] == "contains"


def test_flaky_regressions_are_counted_shown_and_optionally_ignored_by_the_gate():
    recs = [rec(f"c{i}", "target", False, True) for i in range(8)]
    recs += [
        {**rec("p1", "passing", True, False), "flaky": True, "base_stability": {"asked": 3, "held": 1}},
        {**rec("p2", "passing", True, True), "base_stability": {"asked": 3, "held": 3}},
    ]
    strict = build_report(recs, targeted_cluster="target")
    assert strict["regressions"] == ["p1"] and strict["flaky"]["unstable_ids"] == ["p1"]
    assert strict["verdict"]["verdict"] == "investigate" and not strict["verdict"]["ship_gate"]["open"]
    assert strict["verdict"]["flaky_regressions"] == 1
    assert "p1 (flaky)" in render_text(strict) and "regressed~flaky" in render_text(strict)
    lenient = build_report(recs, targeted_cluster="target", ignore_flaky=True)
    # Still counted and listed; it no longer blocks.
    assert lenient["regressions"] == ["p1"] and lenient["verdict"]["regressions"] == 1
    assert lenient["verdict"]["verdict"] == "ship" and lenient["verdict"]["ship"]
    # A regression on a stable pass still blocks with the same setting.
    recs[-1] = rec("p2", "passing", True, False)
    assert not build_report(recs, targeted_cluster="target", ignore_flaky=True)["verdict"]["ship_gate"]["open"]


def test_fewshot_arm_that_fixes_the_cluster_says_fine_tuning_was_not_needed():
    def with_shots(r, shot_ok):
        return {**r, "fewshot_answer": "s", "fewshot_grade": {"passed": shot_ok, "reason": "", "grader": "contains"}}

    recs = [with_shots(rec(f"c{i}", "target", False, True), True) for i in range(8)]
    recs += [with_shots(rec("p1", "passing", True, True), True)]
    rep = build_report(recs, targeted_cluster="target", fewshot_k=4)
    assert rep["fewshot"]["targeted"]["tuned_passed"] == 8 and rep["fewshot"]["regressions"] == []
    assert rep["verdict"]["verdict"] == "not_needed" and not rep["verdict"]["ship"]
    assert "Few-shot prompting with 4" in " ".join(rep["verdict"]["advice"])
    # The examples break a passing item: the fine-tune stays the answer.
    recs[-1] = with_shots(rec("p1", "passing", True, True), False)
    rep = build_report(recs, targeted_cluster="target", fewshot_k=4)
    assert rep["fewshot"]["regressions"] == ["p1"] and rep["verdict"]["verdict"] == "ship"
    assert "Few-shot (4 corrections in the prompt, base model): cluster 0/8 → 8/8, 1 regressions" in render_text(rep)
