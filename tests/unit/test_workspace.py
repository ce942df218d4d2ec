"""ftui.yaml: defaults, and errors that name the file, the line, the key and the nearest key."""

from __future__ import annotations

import pytest

from ftui.core.base.errors import ConfigError
from ftui.core.workspace.workspace import Workspace


def ws_with(tmp_path, text: str, log=True):
    if log:
        (tmp_path / "log.jsonl").write_text('{"question_id": "a"}\n')
    cfg = tmp_path / "ftui.yaml"
    cfg.write_text(text)
    return cfg


def error_of(tmp_path, text: str, log=True) -> str:
    cfg = ws_with(tmp_path, text, log)
    with pytest.raises(ConfigError) as exc:
        Workspace.load(tmp_path)
    assert exc.value.path == cfg
    return str(exc.value)


def test_defaults(tmp_path):
    ws_with(tmp_path, "run_log: log.jsonl\n")
    ws = Workspace.load(tmp_path)
    assert ws.root == tmp_path.resolve() and ws.run_log == (tmp_path / "log.jsonl").resolve()
    assert ws.fields.question_id == "question_id" and ws.fields.retrieval_hit == "retrieval_hit"
    assert ws.passing_grades == ("correct", "acceptable") and ws.candidate_threshold == 5
    assert ws.state.root == (tmp_path / ".ftui").resolve()
    assert ws.state.corrections == ws.state.root / "corrections"
    assert ws.benchmark is None
    # The yaml file itself is accepted too.
    assert Workspace.load(tmp_path / "ftui.yaml").run_log == ws.run_log


def test_settings_are_read(tmp_path):
    (tmp_path / "bench.jsonl").write_text("{}\n")
    ws_with(
        tmp_path,
        "run_log: log.jsonl\nbenchmark: bench.jsonl\npassing_grades: [pass, ok]\n"
        "candidate_threshold: 3\nstate_dir: state\nfields:\n  question_id: id\n",
    )
    ws = Workspace.load(tmp_path)
    assert ws.passing_grades == ("pass", "ok") and ws.candidate_threshold == 3
    assert ws.benchmark == (tmp_path / "bench.jsonl").resolve()
    assert ws.state.root == (tmp_path / "state").resolve() and ws.fields.question_id == "id"


def test_unknown_key_names_line_and_nearest_key(tmp_path):
    msg = error_of(tmp_path, "run_log: log.jsonl\ncandidate_treshold: 3\n")
    assert msg == f"{tmp_path / 'ftui.yaml'}:2: unknown key `candidate_treshold` (did you mean `candidate_threshold`?)"


def test_unknown_nested_key(tmp_path):
    msg = error_of(tmp_path, "run_log: log.jsonl\nfields:\n  questoin: q\n")
    assert msg.endswith(":3: unknown key `fields.questoin` (did you mean `question`?)")


def test_unknown_key_without_a_near_one(tmp_path):
    msg = error_of(tmp_path, "run_log: log.jsonl\nzzzz: 1\n")
    assert msg.endswith(":2: unknown key `zzzz`")


@pytest.mark.parametrize(
    "text, tail",
    [
        (
            "run_log: log.jsonl\ncandidate_threshold: five\n",
            ":2: `candidate_threshold` must be a whole number, not 'five'",
        ),
        ("run_log: log.jsonl\nfields:\n  question: 5\n", ":3: `fields.question` must be text, not 5"),
        ("run_log: log.jsonl\ntrain:\n  lora_r: 1.5\n", ":3: `train.lora_r` must be a whole number, not 1.5"),
        ("run_log: log.jsonl\ntrain:\n  qlora: 'yes'\n", ":3: `train.qlora` must be true or false, not 'yes'"),
        ("run_log: log.jsonl\npassing_grades: correct\n", ":2: `passing_grades` must be a list"),
        ("run_log: log.jsonl\nfields: [a]\n", ":2: `fields` must be a mapping"),
    ],
)
def test_wrong_type(tmp_path, text, tail):
    assert error_of(tmp_path, text).endswith(tail)


def test_missing_files(tmp_path):
    msg = error_of(tmp_path, "run_log: missing.jsonl\n")
    assert msg == f"{tmp_path / 'ftui.yaml'}:1: run_log: file not found: {(tmp_path / 'missing.jsonl').resolve()}"
    msg = error_of(tmp_path, "run_log: log.jsonl\nbenchmark: nope.jsonl\n")
    assert msg.endswith(f":2: benchmark: file not found: {(tmp_path / 'nope.jsonl').resolve()}")


def test_missing_required_key_empty_and_broken_yaml(tmp_path):
    assert error_of(tmp_path, "candidate_threshold: 3\n").endswith(
        ":1: missing required key `run_log` (path of the graded run log)"
    )
    assert error_of(tmp_path, "").endswith(":1: empty config: at least `run_log:` is required")
    assert error_of(tmp_path, "run_log: log.jsonl\n\tfields: 1\n").endswith(
        ":2: invalid YAML: found character '\\t' that cannot start any token"
    )
    assert error_of(tmp_path, "- a\n- b\n").endswith(":1: the top level must be a mapping")


def test_missing_workspace(tmp_path):
    with pytest.raises(ConfigError, match=r"no ftui\.yaml in"):
        Workspace.load(tmp_path)
    with pytest.raises(ConfigError, match="no such workspace folder"):
        Workspace.load(tmp_path / "nowhere")


def test_semantic_checks(tmp_path):
    assert error_of(tmp_path, "run_log: log.jsonl\ncandidate_threshold: 0\n").endswith(
        ":2: candidate_threshold must be >= 1"
    )
    assert error_of(tmp_path, "run_log: log.jsonl\nbuild:\n  heldout: 1.5\n").endswith(
        ":3: build.heldout must be in [0, 1)"
    )
    assert error_of(tmp_path, "run_log: log.jsonl\ntrain:\n  anchor_kl: -1\n").endswith(
        ":3: train.anchor_kl must be 0 or more"
    )
    # The trust settings, read by the same rules the run form and `ftui train` use.
    assert error_of(tmp_path, "run_log: log.jsonl\ntrain:\n  method: dpo\n  rpo_alpha: -0.5\n").endswith(
        ":4: train.rpo_alpha must be 0 or more"
    )
    assert error_of(tmp_path, "run_log: log.jsonl\ntrain:\n  probes: -1\n").endswith(
        ":3: train.probes must be 0 or more"
    )
    assert error_of(tmp_path, "run_log: log.jsonl\ntrain:\n  stop_broken_anchors: -2\n").endswith(
        ":3: train.stop_broken_anchors must be 0 or more"
    )
    assert error_of(tmp_path, "run_log: log.jsonl\ntrain:\n  lora_r: 0\n").endswith(
        ":3: train.lora_r must be at least 1"
    )


def test_train_overrides_meet_the_same_rules(tmp_path):
    from ftui.core.runs.runs import train_settings

    ws_with(tmp_path, "run_log: log.jsonl\n")
    ws = Workspace.load(tmp_path)
    assert train_settings(ws, {"method": "dpo", "anchor_kl": 10.0})["anchor_kl"] == 10.0
    with pytest.raises(ValueError, match="anchor_kl must be 0 or more"):
        train_settings(ws, {"anchor_kl": -1.0})
    with pytest.raises(ValueError, match="select_by must be eval_loss or probes"):
        train_settings(ws, {"select_by": "loss"})


def test_passing_grades_must_be_text_and_is_passing_takes_item_or_grade(tmp_path):
    assert error_of(tmp_path, "run_log: log.jsonl\npassing_grades: [1, correct]\n").endswith(
        ":2: passing_grades must be a list of text grades, not 1"
    )
    ws_with(tmp_path, "run_log: log.jsonl\n")
    ws = Workspace.load(tmp_path)
    from types import SimpleNamespace

    assert ws.is_passing("correct") and not ws.is_passing("incorrect") and not ws.is_passing(None)
    assert ws.is_passing(SimpleNamespace(grade="acceptable")) and not ws.is_passing(SimpleNamespace(grade=None))
