from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftui.cli import main
from tests.fixtures.datasets.workspace import default_rows, failing, make_workspace, write_default_corrections

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "datasets"


def run(capsys, *argv):
    code = main(list(map(str, argv)))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def ws(tmp_path):
    rows = default_rows()
    # The same question logged under a second id that is a retrieval miss: it stays in the benchmark.
    twin = failing(2, "wrong_symbol")
    twin.update(question_id="twin-2", retrieval_hit=False)
    w = make_workspace(tmp_path / "ws", [*rows, twin])
    write_default_corrections(w)
    return w


def test_build_json_and_same_id_on_rebuild(ws, capsys):
    code, out, _ = run(capsys, "build", ws.root, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["build_id"] == data["hash"][:12] and Path(data["dir"]).is_dir()
    assert data["counts"]["train"] + data["counts"]["validation"] + data["counts"]["eval"] == 23
    code, out, _ = run(capsys, "build", "-w", ws.root, "--json")
    assert json.loads(out)["build_id"] == data["build_id"]
    code, out, _ = run(
        capsys,
        "build",
        ws.root,
        "--cluster",
        "hallucination",
        "--heldout",
        "0.4",
        "--seed",
        "3",
        "--anchor-ratio",
        "1",
        "--format",
        "prompt-completion",
    )
    assert code == 0 and "hallucination" in out and "wrong_symbol" not in out
    assert "discarded: 3 (1 stale, 2 uncorrected)" in out
    code, out, _ = run(capsys, "builds", ws.root)
    assert code == 0 and len(out.strip().splitlines()) == 2


def test_build_unknown_cluster_is_a_usage_error(ws, capsys):
    code, _, err = run(capsys, "build", ws.root, "--cluster", "nope")
    assert code == 2 and "unknown cluster 'nope'" in err


def test_check_openai_file_reports_exactly_three_findings(capsys, tiny_model_dir):
    code, out, _ = run(capsys, "check", FIX / "openai_three_findings.jsonl", "--model", tiny_model_dir, "--json")
    assert code == 0
    data = json.loads(out)
    assert [(f["where"].rsplit(":", 1)[1], f["kind"]) for f in data["findings"]] == [
        ("2", "no_system_message"),
        ("4", "no_user_message"),
        ("5", "truncated"),
    ]


# No skip: on a machine where the embedded model was never converted, `ftui check` converts it
# first (through the engine, ~40 s once), which is what a user gets too.
@pytest.mark.slow
def test_check_with_the_default_embedded_model(capsys):
    code, out, _ = run(capsys, "check", FIX / "openai_three_findings.jsonl", "--hosted")
    assert code == 0
    lines = [ln for ln in out.splitlines() if ": warning: " in ln or ": error: " in ln]
    assert len(lines) == 3
    assert "tokens (smollm2-135m-instruct)" in out and "hosted estimate: 16 epochs" in out


def test_check_groups_a_repeated_finding_into_one_line(capsys, tmp_path):
    # The shape of LLaMA-Factory's alpaca demo: an indented JSON array, no system prompt anywhere.
    rows = [
        {"instruction": f"Explain step {i} of the recipe", "input": "", "output": f"Step {i} mixes it."}
        for i in range(999)
    ]
    rows[5]["output"] = "x"
    path = tmp_path / "alpaca_demo.json"
    path.write_text(json.dumps(rows, indent=2))

    code, out, _ = run(capsys, "check", path, "--no-tokens")
    assert code == 0
    findings = [ln for ln in out.splitlines() if "warning" in ln and "[" in ln]
    assert findings == [
        f"warning: no system message (the model will see its default one) [no_system_message] ×999: "
        f"{path}:2, 7, 12 and 996 more",
        f"{path}:27: warning: answer is 1 chars (< 5) [output_too_short]",
    ]
    assert out.splitlines()[-1].startswith("0 errors, 1000 warnings in ")

    code, out, _ = run(capsys, "check", path, "--no-tokens", "--all")
    lines = [ln for ln in out.splitlines() if ": warning: " in ln]
    assert (
        len(lines) == 1000
        and lines[0] == f"{path}:2: warning: no system message (the model will see its default one) [no_system_message]"
    )

    code, out, _ = run(capsys, "check", path, "--no-tokens", "--json")
    data = json.loads(out)
    assert len(data["findings"]) == 1000 and data["by_kind"] == {"no_system_message": 999, "output_too_short": 1}


def test_check_errors_exit_1(capsys):
    code, out, _ = run(capsys, "check", FIX / "openai_errors.jsonl", "--no-tokens")
    assert code == 1 and "0 warnings" in out and "9 errors" in out


def test_check_latest_build_finds_benchmark_leak(ws, capsys, tiny_model_dir):
    run(capsys, "build", ws.root, "--validation", "0")
    code, out, _ = run(capsys, "check", "-w", ws.root, "--model", tiny_model_dir, "--json")
    data = json.loads(out)
    leaks = [f for f in data["findings"] if f["kind"] == "leak_exact"]
    assert code == 1 and len(leaks) == 1
    assert leaks[0]["id"] == "wrong_symbol-2" and "benchmark item twin-2" in leaks[0]["message"]
    assert leaks[0]["where"].endswith("train.jsonl:" + leaks[0]["where"].rsplit(":", 1)[1])


def test_check_with_heldout_file(capsys):
    code, out, _ = run(
        capsys, "check", FIX / "leak_train.jsonl", "--no-tokens", "--heldout", FIX / "leak_heldout.jsonl"
    )
    assert code == 1 and "leak_exact" in out and "leak_near" in out


def test_export_import_round_trip(ws, capsys, tmp_path):
    run(capsys, "build", ws.root)
    for fmt, kind in (("sharegpt", "sft"), ("openai-preference", "preference"), ("alpaca", "sft")):
        out_path = tmp_path / "lf" / f"{fmt}.json"
        code, out, _ = run(capsys, "export", "-w", ws.root, "--format", fmt, "-o", out_path, "--json")
        assert code == 0
        exported = json.loads(out)
        code, out, _ = run(capsys, "import", out_path, "--json", "-o", tmp_path / f"{fmt}.norm.jsonl")
        data = json.loads(out)
        assert code == 0 and data["format"] == fmt and data["kind"] == kind and data["rows"] == exported["rows"] > 0
    assert (tmp_path / "lf" / "dataset_info.json").exists()
    # Without -o the rows go to stdout as JSONL.
    code, out, err = run(capsys, "import", tmp_path / "lf" / "sharegpt.json")
    assert code == 0 and all("messages" in json.loads(ln) for ln in out.splitlines()) and "sft rows" in err


def test_import_reports_bad_lines_and_keeps_good_ones(capsys, tmp_path):
    code, out, err = run(capsys, "import", FIX / "openai_errors.jsonl", "--json")
    data = json.loads(out)
    assert code == 1 and data["rows"] == 7  # structure only; `ftui check` judges the messages
    assert "openai_errors.jsonl:2: expected a JSON object" in err


def test_bad_targets_are_usage_errors(ws, capsys, tmp_path):
    code, _, err = run(capsys, "check", "-w", ws.root, "nosuchbuild")
    assert code == 2 and "no build" in err
    code, _, err = run(capsys, "export", "-w", ws.root, "--format", "alpaca", "-o", tmp_path / "x.json")
    assert code == 2 and "no builds yet" in err


def test_builds_says_when_the_newest_build_is_older_than_the_corrections(tmp_path, capsys):
    import json as _json

    from ftui.cli import main as _main
    from ftui.core.build import builder
    from ftui.core.curate.corrections import CorrectionStore
    from ftui.core.logs.runlog import load_run_log
    from ftui.core.workspace.workspace import Workspace
    from tests.tui.workspace_factory import make_workspace

    ws = Workspace.load(make_workspace(tmp_path / "ws", 30))
    items = [it for it in load_run_log(ws).items if it.label == "wrong_symbol" and it.retrieval_hit]
    CorrectionStore(ws).save(items[0], items[0].expected)
    builder.build(ws)
    assert _main(["builds", "-w", str(ws.root), "--json"]) == 0
    assert _json.loads(capsys.readouterr().out)[0]["stale"] == ""
    CorrectionStore(ws).save(items[1], items[1].expected)
    assert _main(["builds", "-w", str(ws.root)]) == 0
    out = capsys.readouterr().out
    assert "is older than the corrections (1 new since): `ftui build` rebuilds" in out
