"""Compare pane on the fixture report: filters, the regression table, the verdict, the postmortem."""

from __future__ import annotations

from types import SimpleNamespace

from ftui.tui.app import FtuiApp
from ftui.tui.panes.compare.metrics import metric_rows
from ftui.tui.widgets.word_diff import word_diff
from tests.tui.conftest import REPORT, add_report, settle


async def test_filter_to_regressions_and_read_the_diff(ws):
    add_report(ws)
    app = FtuiApp(ws, start_pane="compare")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, 3)
        pane = app.screen
        banner = str(pane.query_one("#cmp-banner").render())
        assert "INCONCLUSIVE" in banner and "cluster +60 pts (95% CI +0 to +83) · mid-p 0.12" in banner
        items = pane.query_one("#cmp-items")
        assert len(items.rows) == 12
        await pilot.press("f", "f")  # all → fixed → regressed
        await pilot.pause()
        assert [it["id"] for it in items.rows] == ["q09"]
        assert "✘ regr. ~flaky" in items.render_line(1).text
        metrics = [name for name, _ in pane.query_one("#metric-table").rows]
        assert metrics[1] == "  ↳ few-shot ×4 (base)"
        diff = pane.query_one("#cmp-diff")
        assert "pass" in str(diff.query_one("#wd-base").border_title)
        assert "fail" in str(diff.query_one("#wd-tuned").border_title)
        await pilot.press("f", "f", "f", "f")  # round to fixed again
        await pilot.pause()
        assert {it["bucket"] for it in items.rows} == {"fixed"} and len(items.rows) == 4
        await pilot.press("f", "f", "f", "f", "F")  # round to all buckets; first cluster only
        await pilot.pause()
        clusters = {it["cluster"] for it in items.rows}
        assert len(clusters) == 1


async def test_postmortem_opens_as_markdown(ws):
    add_report(ws, postmortem="# Postmortem\n\nThe cluster **wrong_field** improved 20% → 80%.\n")
    app = FtuiApp(ws, start_pane="compare")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, 3)
        await pilot.press("w")
        await settle(pilot, app)
        assert type(app.screen).__name__ == "MarkdownScreen"
        await pilot.press("escape")
        await pilot.pause()
        assert app.current_mode == "compare" and type(app.screen).__name__ == "ComparePane"


def test_metric_rows_have_targeted_rest_and_clusters():
    import json

    report = json.loads(REPORT.read_text())
    rows = metric_rows(report)
    assert rows[0][0].endswith(report["targeted_cluster"]) and rows[0][1]["mcnemar_p"] == 0.25
    assert rows[1][0] == "  ↳ few-shot ×4 (base)" and rows[1][1]["tuned_passed"] == 2
    assert rows[2][0] == "rest of benchmark"
    assert len(rows) > 3


def test_word_diff_marks_only_changed_words():
    left, right = word_diff('{"file_path": "a.py", "symbol": "f"}', '{"file_path": "b.py", "symbol": "f"}')
    assert left.plain == '{"file_path": "a.py", "symbol": "f"}'
    marked_left = [left.plain[s.start : s.end] for s in left.spans]
    marked_right = [right.plain[s.start : s.end] for s in right.spans]
    assert marked_left == ["a"] and marked_right == ["b"]


async def test_evaluate_a_run_then_show_its_report(ws, monkeypatch):
    import shutil

    from ftui.core.base.events import EventWriter
    from ftui.core.judge import evalrun
    from tests.tui.conftest import make_run, recorded

    run_dir = make_run(ws, "fresh-run", recorded())
    calls, limits = [], []

    def fake_start_eval(ws_, run_ref, limit=None):
        limits.append(limit)
        # What the evaluation child leaves behind when it is done.
        d = evalrun.eval_dir(run_ref)
        d.mkdir(parents=True, exist_ok=True)
        (d / "config.json").write_text("{}")
        shutil.copy(REPORT, d / "report.json")
        with EventWriter(d / "events.jsonl") as w:
            w.emit("started", items=12, sides=["base", "tuned"])
            w.emit("finished", report=str(d / "report.json"))
        calls.append(run_ref)
        return run_ref, 0

    monkeypatch.setattr(evalrun, "start_eval", fake_start_eval)
    # The plan (what would run) and the last evaluation's pace, as E shows them before starting.
    monkeypatch.setattr(evalrun, "plan_eval", lambda ws_, rd: SimpleNamespace(items=[{}] * 40, config={}))
    monkeypatch.setattr(evalrun, "seconds_per_item", lambda ws_: 3.0)
    app = FtuiApp(ws, start_pane="compare", watch_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, 3)
        pane = app.screen
        assert "no evaluation yet" in str(pane.query_one("#cmp-banner").render())
        await pilot.press("E")
        await settle(pilot, app)
        assert type(app.screen).__name__ == "PickScreen"  # nothing started yet
        options = app.screen.query_one("#pk-list")
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert labels[0] == "all 40 items · about 2m00s at the last evaluation's pace"
        assert labels[1].startswith("16 items spread over the clusters") and len(labels) == 2
        assert calls == []
        await pilot.press("j", "j", "enter")  # 16 items
        await settle(pilot, app)
        assert calls == [run_dir] and limits == [16]
        for _ in range(40):
            await pilot.pause(0.1)
            await app.workers.wait_for_complete()
            if pane.report is not None:
                break
        assert pane.report is not None and "INCONCLUSIVE" in str(pane.query_one("#cmp-banner").render())


async def test_postmortem_is_written_when_missing(ws):
    run_dir = add_report(ws)
    app = FtuiApp(ws, start_pane="compare")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, 3)
        await pilot.press("w")
        await settle(pilot, app, 3)
        assert type(app.screen).__name__ == "MarkdownScreen"
        assert (run_dir / "postmortem.md").is_file()
        assert "wrong_field" in app.screen.query_one("Markdown").source


def test_p_values_fit_their_column_and_keep_the_exponent():
    from ftui.tui.panes.compare.metrics import p_text

    assert [p_text(p) for p in (1.0, 0.289, 0.0386, 2.98e-08, 9.54e-07)] == ["1", "0.29", "0.039", "3e-8", "1e-6"]
    assert all(len(p_text(p)) <= 6 for p in (0.00012, 1e-12, 0.5))


async def test_versus_sets_another_runs_report_beside_this_one(ws):
    import json

    add_report(ws)
    other = add_report(ws, run_id="other-run")
    rep = json.loads((other / "eval" / "report.json").read_text())
    rep["run_id"] = "other-run"
    for it in rep["items"]:
        if it["id"] == "q01":
            it["bucket"] = "still_failing"  # the other run did not fix q01
    (other / "eval" / "report.json").write_text(json.dumps(rep))
    app = FtuiApp(ws, start_pane="compare")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, 3)
        pane = app.screen
        shown = pane.report["run_id"]
        await pilot.press("v")
        await pilot.pause()
        assert pane.vs is not None and pane.vs["other_run_id"] != shown
        line = str(pane.query_one("#cmp-filter").render())
        assert line.startswith(f"vs {pane.vs['other_run_id']}: 12 items graded by both, 11 alike")
        cell = pane._bucket_cell(next(it for it in pane.report["items"] if it["id"] == "q01"))
        assert cell in ("✔ this · · other", "· this · ✔ other")
        await pilot.press("v")
        await pilot.pause()
        assert pane.vs is None and str(pane.query_one("#cmp-filter").render()).startswith("filter: all")


async def test_forgetting_check_runs_in_the_background_and_its_table_sits_beside_the_benchmarks(ws, monkeypatch):
    import json

    from ftui.core.base.events import EventWriter
    from ftui.core.judge import forgetting

    run_dir = add_report(ws)
    calls = []
    rows = [
        forgetting.compare_task("sample_arithmetic", "acc", {"0": 1, "1": 1}, {"0": 1, "1": 0}, 0.1),
        forgetting.compare_task("sample_facts", "acc", {"0": 1, "1": 0}, {"0": 1, "1": 0}, 0.1),
    ]

    def fake_start(ws_, run_ref, limit=None, tasks=None):
        # What the check's child leaves behind: its events, its result, the report with the table in it.
        d = forgetting.job_dir(run_ref)
        d.mkdir(parents=True, exist_ok=True)
        (d / forgetting.CONFIG).write_text("{}")
        result = {"tasks": rows, "errors": ["unknown task 'mmlu_x': not an lm-eval task"], "complete": True}
        (d / forgetting.RESULT).write_text(json.dumps(result))
        report = json.loads((run_ref / "eval" / "report.json").read_text())
        report["forgetting"] = forgetting.summary(result)
        (run_ref / "eval" / "report.json").write_text(json.dumps(report))
        with EventWriter(d / forgetting.EVENTS) as w:
            w.emit("started", items=2, sides=["base", "tuned"])
            w.emit("finished", report=str(d / forgetting.RESULT))
        calls.append(run_ref)
        return run_ref, 0

    monkeypatch.setattr(forgetting, "start", fake_start)
    app = FtuiApp(ws, start_pane="compare", watch_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, 3)
        pane = app.screen
        table = pane.query_one("#fg-table")
        assert not table.display  # a run never checked shows the benchmark's table alone
        await pilot.press("g")
        for _ in range(40):
            await pilot.pause(0.1)
            await app.workers.wait_for_complete()
            if table.display and table.rows:
                break
        assert calls == [run_dir]
        assert [r["task"] for r in table.rows] == ["sample_arithmetic", "sample_facts"]
        assert table.region.x > pane.query_one("#metric-table").region.x  # beside it, not under it
        lines = [table.render_line(y).text for y in range(3)]
        assert lines[1].split()[0].startswith("sample_ar") and lines[1].split()[-2:] == ["100→50", "-50✘"]
        assert lines[2].split()[-2:] == ["50→50", "+0"]


async def test_an_evaluation_started_elsewhere_shows_its_progress_not_press_e(ws):
    import json
    import os

    from tests.tui.conftest import make_run, recorded

    run_dir = make_run(ws, "busy-run", recorded())
    d = run_dir / "eval"
    d.mkdir()
    (d / "config.json").write_text("{}")
    (d / "pid").write_text(f"{os.getpid()}\n")  # a live process: the CLI's child, as far as the pane can tell
    t = __import__("time").time()
    evs = [
        {"v": 1, "type": "started", "t": t, "items": 16},
        {"v": 1, "type": "progress", "t": t, "side": "base", "done": 6, "total": 16},
        {"v": 1, "type": "heartbeat", "t": t},
    ]
    (d / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in evs))
    app = FtuiApp(ws, start_pane="compare", watch_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, 3)
        for _ in range(20):
            banner = str(app.screen.query_one("#cmp-banner").render())
            if "6/16" in banner:
                break
            await pilot.pause(0.1)
        assert "evaluating busy-run" in banner and "base 6/16" in banner and "press E" not in banner
        (d / "events.jsonl").write_text(
            "".join(json.dumps(e) + "\n" for e in [*evs, {"v": 1, "type": "cancelled", "t": t}])
        )


async def test_a_filter_set_on_one_run_is_reset_for_the_next(ws):
    add_report(ws)
    add_report(ws, run_id="other-run")
    app = FtuiApp(ws, start_pane="compare")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app, 3)
        pane = app.screen
        await pilot.press("f", "f")
        await pilot.pause()
        assert pane.bucket == "regressed" and len(pane.query_one("#cmp-items").rows) == 1
        await pilot.press("right_square_bracket")
        await settle(pilot, app, 3)
        assert pane.bucket == "all" and pane.cluster is None
        assert len(pane.query_one("#cmp-items").rows) == 12
        assert "all" in str(pane.query_one("#cmp-filter").render())


async def test_p_values_are_labeled_with_their_test_and_counts(ws):
    add_report(ws)
    app = FtuiApp(ws, start_pane="compare")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app, 3)
        pane = app.screen
        banner = str(pane.query_one("#cmp-banner").render())
        assert "mid-p 0.12 (3 fixed vs 0 regressed)" in banner
        assert "exact p" in pane.query_one("#metric-table").render_line(0).text


async def test_the_panes_numbers_are_the_clis(ws, capsys):
    import json

    from ftui.cli import main
    from ftui.tui.panes.compare.metrics import metric_cells

    run_dir = add_report(ws)
    assert main(["report", run_dir.name, "-w", str(ws.root), "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    app = FtuiApp(ws, start_pane="compare")
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot, app, 3)
        pane = app.screen
        rows = pane.query_one("#metric-table").rows
        _name, m = rows[0]
        t = cli["targeted"]
        assert (m["total"], m["base_passed"], m["tuned_passed"]) == (t["total"], t["base_passed"], t["tuned_passed"])
        cells = metric_cells(rows[0])
        assert cells[1] == str(t["total"]) and cells[4] == str(t["buckets"]["fixed"])
        assert cells[5] == str(t["buckets"]["regressed"])
        banner = str(pane.query_one("#cmp-banner").render())
        assert cli["verdict"]["verdict"].upper().replace("_", " ") in banner
        lo, hi = (round(100 * x) for x in t["ci"])
        assert f"95% CI {lo:+d} to {hi:+d}" in banner
        assert len(pane.query_one("#cmp-items").rows) == len(cli["items"])


async def test_a_report_older_than_the_runs_adapter_says_so(ws):
    import os
    import time

    run_dir = add_report(ws)
    app = FtuiApp(ws, start_pane="compare")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app, 3)
        assert "newer than this report" not in str(app.screen.query_one("#cmp-banner").render())
    adapter = run_dir / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    later = time.time() + 60
    os.utime(adapter / "adapter_config.json", (later, later))  # trained again after the evaluation
    app = FtuiApp(ws, start_pane="compare")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app, 3)
        banner = str(app.screen.query_one("#cmp-banner").render())
        assert "adapter is newer than this report" in banner and "INCONCLUSIVE" in banner
