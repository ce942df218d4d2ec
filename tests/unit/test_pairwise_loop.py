"""Pairwise judgments (AlpacaEval annotations, MT-Bench pairwise) through init, clusters, correct, build.

The files are real ones in their tools' layouts (tests/fixtures/evallogs/real/PROVENANCE.md); the
expected counts are computed here from the files by each tool's own rule, not copied.
"""

from __future__ import annotations

import json
import shutil

import pytest

from ftui.cli import main
from ftui.core.logs.runlog import load_run_log
from ftui.core.logs.sources.pairwise import winner_side
from ftui.core.workspace.workspace import Workspace
from tests.fixtures.evallogs import HERE

REAL = HERE / "real"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def correct_and_build(capsys, ws, label: str, n: int = 3) -> list[dict]:
    """Correct `n` failures of cluster `label` with their expected (the other side's) answer; build."""
    code, out, err = run(capsys, "clusters", ws, "--json")
    assert code == 0, err
    (cluster,) = [c for c in json.loads(out)["clusters"] if c["label"] == label]
    fixed = []
    for item_id in cluster["ids"][:n]:
        code, out, err = run(capsys, "show", item_id, "-w", ws, "--json")
        assert code == 0, err
        item = json.loads(out)["item"]
        assert item["expected"] and item["expected"] != item["answer"]
        assert run(capsys, "correct", item_id, "-w", ws, "--text", item["expected"])[0] == 0
        fixed.append(item["expected"])
    code, out, err = run(capsys, "build", ws, "--cluster", label, "--heldout", "0", "--validation", "0", "--json")
    assert code == 0, err
    build_dir = next(p for p in (ws / ".ftui" / "builds").iterdir() if p.is_dir())
    rows = [json.loads(x) for x in (build_dir / "train.jsonl").read_text().splitlines()]
    assert {r["messages"][-1]["content"] for r in rows} >= set(fixed)
    return rows


def test_alpaca_eval_annotations_a_loss_to_the_reference_is_a_failure(tmp_path, capsys):
    rows = json.loads((REAL / "alpaca_eval_alpaca7b" / "annotations.json").read_text())[:40]
    ws = tmp_path / "alpaca"
    ws.mkdir()
    (ws / "annotations.json").write_text(json.dumps(rows, indent=2))
    # AlpacaEval's own reading: preference 1 means output_1 (the reference) was preferred.
    lost = sum(1 for r in rows if winner_side(r["preference"], ("", "")) == 1)
    code, out, _ = run(capsys, "init", ws, "--yes")
    assert code == 0, out
    assert "AlpacaEval annotations" in out and "the model is generator_2" in out
    assert f"40 items: {40 - lost} pass, {lost} fail" in out
    assert "next: ftui discover" in out  # no label field: discovery is the next step
    log = load_run_log(Workspace.load(ws))
    first_loss = next(it for it in log.items if it.failures)
    row = rows[int(first_loss.id)]
    assert (first_loss.answer, first_loss.expected) == (row["output_2"], row["output_1"])
    assert first_loss.question == row["instruction"] and first_loss.grade == "lost"
    correct_and_build(capsys, ws, "unlabeled")


def test_alpaca_eval_model_flag_grades_the_other_side(tmp_path, capsys):
    rows = json.loads((REAL / "alpaca_eval_alpaca7b" / "annotations.json").read_text())[:40]
    ws = tmp_path / "alpaca"
    ws.mkdir()
    (ws / "annotations.json").write_text(json.dumps(rows))
    won_by_reference = sum(1 for r in rows if winner_side(r["preference"], ("", "")) == 2)
    code, out, _ = run(capsys, "init", ws, "--model", "text_davinci_003", "--yes")
    assert code == 0, out
    assert f"{40 - won_by_reference} pass, {won_by_reference} fail" in out
    assert 'model: "text_davinci_003"' in (ws / "ftui.yaml").read_text()


def _fastchat_outcome(j: dict, me: str) -> str | None:
    """FastChat's show_result: errors dropped, a tie when the two orders disagree."""
    if "error" in (j["g1_winner"], j["g2_winner"]):
        return None
    if j["g1_winner"] == "tie" or j["g1_winner"] != j["g2_winner"]:
        return "tied"
    winner = j["model_1"] if j["g1_winner"] == "model_1" else j["model_2"]
    return "won" if winner == me else "lost"


@pytest.mark.parametrize("model", ["phi-3", "phi-3-dpo"])
def test_mt_bench_pairwise_judgments_by_name(tmp_path, capsys, model):
    folder = shutil.copytree(REAL / "mt_bench_phi3", tmp_path / "mt_bench")
    judgments = folder / "model_judgment" / "gpt-4_pair.jsonl"
    lines = [json.loads(x) for x in judgments.read_text().splitlines()]
    outcomes = [_fastchat_outcome(j, model) for j in lines]
    lost, kept = outcomes.count("lost"), sum(o is not None for o in outcomes)
    ws = tmp_path / "ws"
    code, out, _ = run(capsys, "init", judgments, ws, "--model", model, "--yes")
    assert code == 0, out
    assert "MT-Bench pairwise judgments" in out and f"the model is {model}" in out
    assert f"{kept} items: {kept - lost} pass, {lost} fail; 2 lines skipped" in out
    # MT-Bench questions carry a category: the failures are grouped by it from the start.
    assert "top clusters:" in out and "next: ftui clusters" in out
    log = load_run_log(Workspace.load(ws))
    other = "phi-3" if model == "phi-3-dpo" else "phi-3-dpo"
    answers = {
        m: {json.loads(x)["question_id"]: json.loads(x) for x in (folder / "model_answer" / f"{m}.jsonl").open()}
        for m in (model, other)
    }
    item = next(it for it in log.items if it.failures)
    qid = int(item.id.split(".")[0])
    assert item.answer == answers[model][qid]["choices"][0]["turns"][0]
    assert item.expected == answers[other][qid]["choices"][0]["turns"][0]
    label = max(
        {it.label for it in log.items if it.failures},
        key=lambda lb: sum(it.label == lb for it in log.items if it.failures),
    )
    correct_and_build(capsys, ws, label, n=2)


def test_generic_pairwise_layout_with_its_own_field_names(tmp_path, capsys):
    rows = [
        {"qid": f"q{i}", "q": f"Capital of {c}?", "r1": a, "r2": b, "m1": "mine", "m2": "ref", "label": w}
        for i, (c, a, b, w) in enumerate(
            [
                ("France", "Paris", "Paris", "tie"),
                ("Peru", "Quito", "Lima", "ref"),
                ("Chile", "Santiago", "Lima", "mine"),
            ]
        )
    ]
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "ftui.yaml").write_text(
        "run_log: pairs.jsonl\nsource: pairwise\nsource_options: {id: qid, prompt: q, answer_a: r1, answer_b: r2, "
        "model_a: m1, model_b: m2, winner: label, model: mine}\n"
    )
    log = load_run_log(Workspace.load(tmp_path))
    by = {it.id: it for it in log.items}
    assert [by[q].grade for q in ("q0", "q1", "q2")] == ["tied", "lost", "won"]
    assert [by[q].failures for q in ("q0", "q1", "q2")] == [0, 1, 0]
    assert (by["q1"].answer, by["q1"].expected) == ("Quito", "Lima")
    (tmp_path / "ftui.yaml").write_text("run_log: pairs.jsonl\nsource: pairwise\nsource_options: {answr_a: r1}\n")
    with pytest.raises(Exception) as exc:
        Workspace.load(tmp_path)
    assert "ftui.yaml:3" in str(exc.value) and "did you mean `answer_a`?" in str(exc.value)


@pytest.mark.parametrize(
    ("winner", "side"),
    [
        (1, 1),
        (2, 2),
        (0, 0),
        (1.5, 0),
        (1.2, 1),
        (1.9, 2),
        ("B", 2),
        ("model_a", 1),
        ("tie", 0),
        ("ref", 2),
        ("x", None),
    ],
)
def test_a_winner_is_read_as_a_side(winner, side):
    assert winner_side(winner, ("mine", "ref")) == side
