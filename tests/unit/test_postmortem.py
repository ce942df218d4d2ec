from pathlib import Path

import pytest

from ftui.core.base.errors import InputError
from ftui.core.judge.postmortem import build_postmortem, loss_summary, write_postmortem
from tests.fixtures.eval_run import make_eval_workspace, write_fixture_run


@pytest.fixture
def fixture_run(tmp_path):
    adapter = tmp_path / "adapter-src"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    ws, run_dir = make_eval_workspace(tmp_path / "ws", tmp_path / "model", adapter)
    report = write_fixture_run(ws, run_dir)
    return ws, run_dir, report


def section(text: str, n: int) -> str:
    start = text.index(f"## {n}.")
    end = text.find("\n## ", start + 1)
    return text[start:end]


def test_loss_summary(fixture_run):
    _, run_dir, _ = fixture_run
    s = loss_summary(run_dir)
    assert s["best_eval_loss"] == 0.9 and s["best_step"] == 20 and s["early_stopped"]
    assert (s["first_loss"], s["last_loss"], s["steps"], s["evals"]) == (2.5, 0.3, 30, 3)


def test_postmortem_answers_the_five_questions_with_the_right_numbers(fixture_run):
    ws, run_dir, report = fixture_run
    assert report["buckets"] == {"fixed": 3, "regressed": 1, "still_failing": 3, "still_passing": 2}
    path = write_postmortem(run_dir, ws)
    text = path.read_text()
    assert path == run_dir / "postmortem.md"
    assert (ws.state.reports / f"{run_dir.name}-postmortem.md").read_text() == text

    q1 = section(text, 1)
    assert "`wrong_symbol`: 6 failures, 6 of 14 benchmark questions." in q1
    assert "the 5 items used for training, 3 items of the cluster were evaluated (9 items in all)" in q1
    assert "`hallucination`" in q1

    q2 = section(text, 2)
    assert (
        "Used 4 training examples (3 corrections, 1 anchor) and held out 2 for the eval loss (1 correction, 1 anchor)."
        in q2
    )
    assert "4 of 6 failures became examples (3 train, 1 held out)" in q2
    assert "Discarded 4: 2 uncorrected, 1 skipped, 1 stale." in q2

    q3 = section(text, 3)
    # Two fixed of three is a gain the three items cannot settle (mid-p 0.25).
    assert (
        "Not settled: `wrong_symbol` passed 0/3 (0.0%) with the base model and 2/3 (66.7%) fine-tuned, +66.7 pts" in q3
    )
    assert "2 fixed, 1 still failing" in q3 and "p = 0.5" in q3

    q4 = section(text, 4)
    assert "Yes: 1 of the 3 items the base model passed now fail: ok-2." in q4
    assert "Clusters: passing (1)" in q4 and "Graders: contains (1)" in q4 and "Task types: locate (1)" in q4
    assert 'does not contain \\"src/ok_2.py\\"' in q4 or 'does not contain "src/ok_2.py"' in q4

    q5 = section(text, 5)
    assert "the base model already passed 0 of 3 `wrong_symbol` items." in q5
    assert "learned from 4 corrected examples" in q5 and "small set" in q5
    assert "2 fixed vs 0 broken, exact McNemar p = 0.5 (not significant at 0.05 on 3 items)" in q5
    assert "3 fixed vs 1 regressed, p = 0.625" in q5
    assert "1 evaluated item was a retrieval miss" in q5
    # 2 of 3 fixed: better, but the interval of the change holds zero, and the verdict says so.
    assert "Inconclusive: too few items of the cluster" in q5 and "more held-out item" in q5
    assert "The cluster's change is +66.7 pts on 3 items, and its 95% interval" in q5

    details = text[text.index("## Run details") :]
    assert "b0b0b0b0b0b0ffff" in details
    assert "learning_rate=0.0002" in details and "lora_r=16" in details and "method=sft" in details
    assert "best eval loss 0.9000 at step 20" in details and "2.5000 → 0.3000 over 30 steps (early stopped)" in details
    assert "| targeted (wrong_symbol) | 3 | 0 (0.0%) | 2 (66.7%) | +66.7 pts |" in details
    assert "| all | 9 | 3 (33.3%) | 5 (55.6%) | +22.2 pts |" in details


def test_postmortem_without_report_is_a_clear_error(tmp_path):
    ws, run_dir = make_eval_workspace(tmp_path / "ws", tmp_path / "model")
    with pytest.raises(InputError, match="no report yet"):
        build_postmortem(run_dir, ws)


def test_postmortem_without_workspace_uses_manifest_counts(fixture_run):
    _, run_dir, _ = fixture_run
    text = build_postmortem(run_dir)
    assert "`wrong_symbol`: 6 failures, benchmark of 14 questions." in text


def test_postmortem_counts_preserved_rows_only_when_the_run_used_them(fixture_run):
    import json

    from ftui.core.runs.runs import read_run_config

    _, run_dir, _ = fixture_run
    cfg = read_run_config(run_dir)
    manifest_path = Path(cfg["build_dir"]) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["counts"].update(preserve=2)
    manifest_path.write_text(json.dumps(manifest))
    config_path = run_dir / "config.json"
    for kl, want in (
        (
            10.0,
            "Used 6 training examples (3 corrections, 1 anchor, 2 other clusters' failures kept as "
            "the base answers them (KL only))",
        ),
        (0.0, "Used 4 training examples (3 corrections, 1 anchor) and"),
    ):
        config_path.write_text(json.dumps({**cfg, "anchor_kl": kl}))
        q2 = section(build_postmortem(run_dir), 2)
        assert want in q2
    assert "anchor_kl=0.0" in build_postmortem(run_dir)


def test_postmortem_marks_flaky_regressions_and_answers_the_rung_with_few_shot(fixture_run):
    import json

    from ftui.core.judge.compare import build_report

    _ws, run_dir, report = fixture_run
    path = run_dir / "eval" / "report.json"
    records = []
    for it in report["items"]:
        r = dict(it)
        # The few-shot arm fixes nothing; ok-2's base pass did not hold when re-asked.
        r["fewshot_answer"], r["fewshot_grade"] = it["base_answer"], it["base_grade"]
        if it["id"] == "ok-2":
            r["flaky"], r["base_stability"] = True, {"asked": 3, "held": 2}
        records.append(r)
    rep = build_report(
        records, targeted_cluster=report["targeted_cluster"], meta={"flaky_check": {"k": 3}}, fewshot_k=4
    )
    path.write_text(json.dumps(rep))
    text = build_postmortem(run_dir)
    q4, q5 = section(text, 4), section(text, 5)
    assert "now fail: ok-2 (flaky)." in q4 and "re-asked with sampling (3 times)" in q4
    assert "They still count against the gate." in q4
    assert "given 4 of the cluster's corrections as examples passed 0/3 `wrong_symbol` items (fine-tuned: 2/3)" in q5
    assert "the fine-tune does better." in q5
    assert "95% CI" in q5 and "mid-p McNemar" in q5


def test_postmortem_counts_drafted_and_edited_corrections(fixture_run):
    from ftui.core.curate.drafts.store import Draft, DraftStore
    from tests.fixtures.eval_run import TRAIN_IDS

    ws, run_dir, _ = fixture_run
    base = {"cluster": "wrong_symbol", "passed": True, "reason": "", "grader": "contains", "created": "t"}
    made = [
        Draft(id=TRAIN_IDS[0], output="a", teacher="local:m", prompt_hash="h1", status="accepted", **base),
        Draft(id=TRAIN_IDS[1], output="b", teacher="local:m", prompt_hash="h1", status="edited", **base),
        Draft(id="not-trained", output="c", teacher="local:m", prompt_hash="h1", status="accepted", **base),
    ]
    DraftStore(ws).append(made)
    q2 = section(build_postmortem(run_dir, ws), 2)
    assert "2 corrections drafted by a teacher (`local:m` (2)): 1 accepted as drafted, 1 edited by a person." in q2
    assert "drafted" not in section(build_postmortem(run_dir), 2)  # without the workspace nothing is claimed


def test_postmortem_of_a_grpo_run_names_the_method_and_its_reward(fixture_run):
    import json

    from ftui.core.base import events
    from ftui.core.runs.runs import read_run_config

    _, run_dir, _ = fixture_run
    cfg = read_run_config(run_dir)
    manifest_path = Path(cfg["build_dir"]) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["counts"].update(grpo_train=7)
    manifest_path.write_text(json.dumps(manifest))
    (run_dir / "config.json").write_text(json.dumps({**cfg, "method": "grpo", "num_generations": 8, "kl_beta": 0.02}))
    with open(run_dir / "events.jsonl", "a") as fh:
        for step, reward in enumerate([0.2, 0.3, 0.4, 0.5, 0.6, 0.7], start=31):
            ev = events.make("log", step=step, max_steps=36, loss=0.0, reward=reward, frac_reward_zero_std=0.5)
            fh.write(json.dumps(ev) + "\n")
        fh.write(json.dumps(events.make("warning", message="training reward rose", step=36)) + "\n")
    text = build_postmortem(run_dir)
    assert "method GRPO" in text
    assert "GRPO: 7 prompts of the targeted clusters' failures, no corrections needed" in section(text, 2)
    assert "Reward (mean of the first and last 5 logged steps): 0.400 → 0.500" in text
    assert "Warning during training: training reward rose" in text
    assert "num_generations=8" in text and "kl_beta=0.02" in text
