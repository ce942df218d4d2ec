import json

from ftui.core.judge import side_by_side
from ftui.core.judge.compare import build_report
from tests.unit.test_compare import rec


def test_pair_says_which_run_fixed_or_broke_what():
    a = build_report(
        [rec("x", "t", False, True), rec("y", "t", True, True), rec("z", "p", True, False), rec("only-a", "t", 0, 0)],
        targeted_cluster="t",
        meta={"run_id": "A"},
    )
    b = build_report(
        [rec("x", "t", False, False), rec("y", "t", True, False), rec("z", "p", True, False)],
        targeted_cluster="t",
        meta={"run_id": "B"},
    )
    p = side_by_side.pair(a, b)
    by = {r["id"]: r for r in p["items"]}
    assert by["x"]["outcome"] == "only this fixed" and by["y"]["outcome"] == "only other broke"
    assert by["z"]["outcome"] == "same" and "only-a" not in by and p["only_in_one"] == 1
    assert p["counts"] == {"only other broke": 1, "only this fixed": 1, "same": 1}
    text = side_by_side.render(p)
    assert text.splitlines()[0] == "vs B: 3 items graded by both, 1 alike, 1 only other broke, 1 only this fixed"
    json.dumps(p)  # the CLI's --json output
