"""`ftui init` on a file with several metrics per item: a 0/1 metric is the grade, another on request."""

from __future__ import annotations

import json
import shutil

import pytest

from ftui.cli import main
from ftui.core.base.errors import ConfigError
from ftui.core.logs.runlog import load_run_log
from ftui.core.workspace.workspace import Workspace
from tests.fixtures.evallogs import HERE

TQA = HERE / "lm_eval_truthfulqa"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def own_counts(metric: str) -> tuple[int, int]:
    """Pass and fail counts by the file's own 0/1 metric, read straight from the file."""
    (f,) = TQA.glob("*/samples_*.jsonl")
    values = [json.loads(line)[metric] for line in f.read_text().splitlines()]
    return sum(v == 1 for v in values), sum(v == 0 for v in values)


@pytest.fixture
def folder(tmp_path):
    return shutil.copytree(TQA, tmp_path / "tqa")


def test_a_binary_metric_is_chosen_over_the_first_continuous_one(folder, capsys):
    code, out, _ = run(capsys, "init", folder, "--yes")
    assert code == 0, out
    passing, failing = own_counts("bleu_acc")
    assert (passing, failing) == (10, 10)
    assert f"20 items: {passing} pass, {failing} fail" in out
    assert "`bleu_acc` (the first 0/1 metric, before the continuous ones)" in out
    assert "others: bleu_max, bleu_diff, rouge1_max, rouge1_acc" in out
    # The metric is written down, so the workspace reads what the preview counted.
    assert "source_options" not in (folder / "ftui.yaml").read_text()
    log = load_run_log(Workspace.load(folder))
    assert sum(it.failures == 0 for it in log.items) == passing
    assert "no label field" in out and "next: ftui discover" in out


def test_metric_flag_picks_another_and_ftui_yaml_keeps_it(folder, capsys):
    code, out, _ = run(capsys, "init", folder, "--metric", "rouge1_acc", "--yes")
    assert code == 0, out
    passing, failing = own_counts("rouge1_acc")
    assert (passing, failing) == (13, 7)
    assert f"{passing} pass, {failing} fail" in out
    cfg = (folder / "ftui.yaml").read_text()
    assert 'source_options:\n  metric: "rouge1_acc"' in cfg
    ws = Workspace.load(folder)
    assert ws.source_options == {"metric": "rouge1_acc"}
    assert sum(it.failures == 0 for it in load_run_log(ws).items) == passing


def test_a_continuous_metric_asked_for_gets_a_threshold_not_at_least_one(folder, capsys):
    code, out, _ = run(capsys, "init", folder, "--metric", "bleu_max", "--yes")
    assert code == 0, out
    assert "at least the median" in out and "10 pass, 10 fail" in out


def test_an_unknown_metric_is_one_line_naming_the_file_line_and_nearest(folder, capsys):
    code, _, err = run(capsys, "init", folder, "--metric", "rouge1_ac", "--yes")
    assert code != 0
    assert "samples_truthfulqa_gen" in err and ":1:" in err and "did you mean `rouge1_acc`?" in err
    assert len(err.strip().splitlines()) == 1
    (folder / "ftui.yaml").write_text('run_log: "."\nsource: lm_eval\nsource_options: {metric: bleu_ac}\n')
    with pytest.raises(ConfigError) as exc:
        Workspace.load(folder)
    msg = str(exc.value)
    assert "ftui.yaml:3" in msg and "did you mean `bleu_acc`?" in msg and "\n" not in msg


def test_init_discover_groups_unlabeled_failures_right_away(folder, capsys):
    code, out, _ = run(capsys, "init", folder, "--yes", "--discover")
    assert code == 0, out
    assert "discovered" in out and "next: ftui clusters" in out
    code, out, _ = run(capsys, "clusters", folder, "--json")
    clusters = json.loads(out)["clusters"]
    assert clusters and all(c["discovered"] for c in clusters)
    assert sum(c["count"] for c in clusters) == own_counts("bleu_acc")[1]


def test_filter_flag_keeps_one_filter_and_an_unknown_one_is_refused(tmp_path, capsys):
    from tests.fixtures.evallogs import copy_tool

    folder = copy_tool("lm_eval", tmp_path)
    code, out, _ = run(capsys, "init", folder, "--filter", "flexible-extract", "--yes")
    assert code == 0, out
    assert "filter `flexible-extract` of strict-match, flexible-extract" in out
    assert "7 items" in out  # arith once (its flexible-extract lines) and mcq
    code, _, err = run(capsys, "init", folder, "--filter", "strict", "--force", "--yes")
    assert code != 0 and "did you mean `strict-match`?" in err
