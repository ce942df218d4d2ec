"""The texts the shell and the panes both show, tested once where they are written: job progress,
forgetting outcomes, export rows, build counts, a drafting job's count, and stopping a run."""

from __future__ import annotations

import json
import os

import pytest

from ftui.cli import main as cli_main
from ftui.core.base import jobs
from ftui.core.base.events import EventWriter
from ftui.core.base.fsutil import atomic_write_json
from ftui.core.build import files as build_files
from ftui.core.build import texts as build_texts
from ftui.core.curate.drafts import job as draft_job
from ftui.core.hosted import where
from ftui.core.judge import texts as judge_texts
from ftui.core.ship import exports, parity
from ftui.core.ship import texts as ship_texts
from tests.fixtures.eval_run import make_eval_workspace


def _state(*evs: tuple[str, dict]) -> jobs.JobState:
    return jobs.fold([{"v": 1, "type": k, "t": 0.0, **f} for k, f in evs], jobs.JobState("running"))


def test_a_running_jobs_progress_is_its_status_and_count():
    assert ship_texts.job_progress(_state()) == "starting"
    st = _state(("status", {"message": "writing"}), ("progress", {"done": 3, "total": 7, "unit": "shards"}))
    assert ship_texts.job_progress(st) == "writing (3/7 shards)"
    assert ship_texts.job_progress(_state(("progress", {"done": 1, "total": 2}))) == "starting (1/2)"


def test_evaluation_progress_keeps_the_cached_answers():
    st = _state(
        ("progress", {"side": "base", "done": 9, "total": 9, "cached": 4}),
        ("progress", {"side": "tuned", "done": 2, "total": 9}),
    )
    assert judge_texts.eval_progress(st) == "base 9/9 (4 cached) · tuned 2/9"
    assert judge_texts.eval_progress(_state(("status", {"message": "loading"}))) == "loading"


def test_forgetting_progress_and_the_outcome_of_an_unfinished_check():
    st = _state(("started", {"items": 3}), ("progress", {"side": "base", "done": 1, "total": 3}))
    assert judge_texts.forgetting_progress(st) == "0/3 tasks · starting"
    result = {"tasks": [{"task": "a"}, {"task": "b"}]}
    dead = jobs.JobState("dead")
    assert judge_texts.forgetting_outcome("r1", dead, result, "g") == (
        "forgetting check of r1 stopped: its process is gone without a final event; "
        "2 task(s) measured and kept (a, b); g measures the rest"
    )
    failed = jobs.JobState("failed", error="OSError: disk")
    assert judge_texts.forgetting_outcome("r1", failed, None, "`ftui forgetting r1`") == (
        "forgetting check of r1 failed: OSError: disk; 0 task(s) measured and kept; `ftui forgetting r1` measures the rest"
    )


def test_build_counts_name_every_role_and_why_rows_were_discarded():
    manifest = {
        "counts": {
            "train": 12,
            "train_corrections": 6,
            "train_anchors": 6,
            "validation": 2,
            "eval": 3,
            "dpo_train": 4,
            "dpo_validation": 1,
            "dpo_eval": 2,
            "discarded": 3,
            "discarded_by_reason": {"uncorrected": 2, "stale": 1},
        },
        "per_cluster": {"wrong_field": {"items": 9, "corrected": 7, "train": 5, "validation": 1, "eval": 1}},
    }
    assert build_texts.counts_lines(manifest) == [
        "train 12: 6 corrections + 6 anchors",
        "valid 2 · test 3 · DPO pairs 7",
        "cluster         done train valid test",
        "wrong_field      7/9     5     1    1",
        "discarded: 3 (1 stale, 2 uncorrected)",
    ]
    assert build_texts.cluster_table(manifest, label_width=12)[1] == "wrong_field    7/9     5     1    1         0"
    assert build_texts.discarded_line({"discarded": 0}) is None


def test_the_files_a_method_reads_and_the_fallback_for_an_old_build(tmp_path):
    assert build_files.method_files("dpo").names == ("dpo_train.jsonl", "dpo_validation.jsonl", "dpo_eval.jsonl")
    assert build_files.train_file(tmp_path, "sft") == tmp_path / "train.jsonl"
    # A build from before the validation split evaluates on its held-out rows.
    assert build_files.eval_file(tmp_path, "dpo") == tmp_path / "dpo_eval.jsonl"
    (tmp_path / "dpo_validation.jsonl").write_text("")
    assert build_files.eval_file(tmp_path, "dpo") == tmp_path / "dpo_validation.jsonl"
    with pytest.raises(ValueError, match="unknown training method 'ppo'"):
        build_files.method_files("ppo")


def test_a_drafting_jobs_count():
    assert draft_job.progress_text({"done": 3, "total": 7, "passed": 2}) == "3/7 drafted, 2 pass the grader"
    assert draft_job.progress_text({}, 5) == "0/5 drafted, 0 pass the grader"


@pytest.fixture
def ws_run(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "llama"}))
    return make_eval_workspace(tmp_path / "ws", model)


def _export(run_dir, name: str, state: str, parity_records: list | None = None) -> None:
    out = run_dir / exports.EXPORTS_DIR / name
    jd = exports.job_dir(run_dir, name)
    jd.mkdir(parents=True)
    atomic_write_json(jd / exports.CONFIG, {"name": name, "out": str(out)})
    (jd / jobs.PID).write_text(f"{os.getpid()}\n")
    with EventWriter(jd / exports.EVENTS) as w:
        w.emit("started")
        if state == "running":
            w.emit("status", message="writing")
            w.emit("progress", done=2, total=5, unit="shards")
        else:
            out.mkdir(parents=True)
            atomic_write_json(out / exports.MANIFEST, {"name": name, "bytes": 2_000_000, "seconds": 3})
            w.emit("finished", out=str(out))
    if parity_records is not None:
        pd = run_dir / parity.PARITY_DIR / name
        pd.mkdir(parents=True)
        atomic_write_json(pd / jobs.CONFIG, {"name": name})
        with EventWriter(pd / jobs.EVENTS) as w:
            w.emit("finished")
        summary = parity.compare(parity_records)
        atomic_write_json(pd / parity.RESULT, {"name": name, "consumer": "llama.cpp", "summary": summary})


def test_export_rows_are_one_reading_for_the_shell_and_the_ship_pane(ws_run, capsys):
    ws, run_dir = ws_run
    g = {"passed": True, "reason": "ok", "grader": "contains"}
    rec = {"id": "q1", "reference_answer": "a", "reference_grade": g, "export_answer": "a", "export_grade": g}
    _export(run_dir, "adapter", "finished", [rec])
    _export(run_dir, "merged", "running")
    rows = {r.name: r for r in ship_texts.export_rows(run_dir)}
    assert rows["adapter"].note == "2.0 MB · 3s" and rows["adapter"].result["consumer"] == "llama.cpp"
    assert ship_texts.parity_counts(rows["adapter"].result["summary"]) == ("1/1", "1/1", "0")
    assert rows["merged"].shown_state == "running" and rows["merged"].note == "writing (2/5 shards)"
    assert ship_texts.parity_counts(None) == ("—", "—", "—")

    assert cli_main(["exports", run_dir.name, "-w", str(ws.root), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["exports"]
    assert [set(r) for r in shown] == [{"name", "state", "out", "error", "parity"}] * 2
    by_name = {r["name"]: r for r in shown}
    assert by_name["adapter"]["parity"]["identical"] == 1 and "rows" not in by_name["adapter"]["parity"]
    assert by_name["merged"]["state"] == "running" and by_name["merged"]["parity"] is None
    assert cli_main(["exports", run_dir.name, "-w", str(ws.root)]) == 0
    text = capsys.readouterr().out
    assert "1/1 / 1/1 / 0" in text and "writing (2/5 shards)" in text


def test_stopping_a_local_run_without_a_live_process_says_so(ws_run):
    _ws, run_dir = ws_run
    done = where.stop(run_dir)
    assert not done.hosted and not done.signalled and (run_dir / jobs.STOP).exists()
    assert done.text == f"stop file written for {run_dir.name} (no live process found)"
