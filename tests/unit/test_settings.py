"""Each settings section checks its own rules: the file, the run form, `ftui train`, the builder and
the engine all refuse the same values with the same reason."""

from __future__ import annotations

import dataclasses
import json

import pytest

from ftui.core.base.errors import ConfigError, InputError
from ftui.core.build import builder
from ftui.core.build.store import BuildError
from ftui.core.judge.evalrun import eval_settings
from ftui.core.runs import runs
from ftui.core.workspace.workspace import BuildConfig, EvalConfig, SettingError, TrainConfig, Workspace
from ftui.tui.panes.train.run_form import parse_form
from tests.fixtures.datasets.workspace import make_workspace, write_default_corrections


def test_a_section_names_every_broken_key_and_replace_checks_again():
    with pytest.raises(SettingError) as exc:
        TrainConfig(method="ppo", max_steps=0, device="tpu")
    assert exc.value.problems == [
        ("method", "must be sft, dpo or grpo"),
        ("max_steps", "must be at least 1"),
        ("device", "must be auto, cpu or cuda"),
    ]
    assert exc.value.first == "train.method must be sft, dpo or grpo"
    with pytest.raises(SettingError, match=r"^build\.heldout must be in \[0, 1\)$"):
        dataclasses.replace(BuildConfig(), heldout=-0.1)
    with pytest.raises(SettingError, match="validation must be in"):
        dataclasses.replace(BuildConfig(), heldout=0.6, validation=0.5)
    with pytest.raises(SettingError, match=r"eval\.by_task\.locate uses the judge grader"):
        EvalConfig(by_task={"locate": "judge"})
    assert EvalConfig().grader == {"kind": "contains"}


def test_the_file_points_at_the_key_line(tmp_path):
    (tmp_path / "log.jsonl").write_text("")
    (tmp_path / "ftui.yaml").write_text("run_log: log.jsonl\ntrain:\n  method: sft\n  max_steps: 0\n")
    with pytest.raises(ConfigError) as exc:
        Workspace.load(tmp_path)
    assert str(exc.value).endswith("ftui.yaml:4: train.max_steps must be at least 1")
    (tmp_path / "ftui.yaml").write_text("run_log: log.jsonl\neval:\n  max_new_tokens: 8\n  grader: contain\n")
    with pytest.raises(ConfigError) as exc:
        Workspace.load(tmp_path)
    assert ":4: eval.grader names an unknown grader 'contain' (did you mean `contains`?)" in str(exc.value)


def test_form_flags_and_builder_use_the_train_and_build_rules(tmp_path, capsys):
    from ftui.cli import main

    ws = make_workspace(tmp_path / "ws")
    write_default_corrections(ws)
    form = {"model": "m", "lora_r": "8", "lora_alpha": "16", "learning_rate": "1e-4", "max_steps": "0"}
    form |= {"epochs": "", "eval_steps": "5", "patience": "-1", "anchor_kl": "0"}
    form |= {"rpo_alpha": "0", "probes": "16", "select_by": "eval_loss", "stop_broken_anchors": "0"}
    _, errors = parse_form(form, "sft", False, ws.train)
    assert errors == ["Max steps: must be at least 1 ('0')", "Early-stop patience: must be 0 or more ('-1')"]

    build = builder.build(ws)
    assert main(["train", str(ws.root), "--build", build.id, "--steps", "0"]) != 0
    assert "--steps must be at least 1" in capsys.readouterr().err
    assert not ws.state.runs.exists() or not any(ws.state.runs.iterdir())
    with pytest.raises(SettingError, match=r"train\.anchor_kl must be 0 or more"):
        runs.create_run(ws, build, {"anchor_kl": -1.0})
    with pytest.raises(BuildError, match=r"build\.anchor_ratio must be 0 or more"):
        builder.build(ws, anchor_ratio=-1)


def test_the_engine_rebuilds_a_run_s_sections_and_refuses_unknown_keys(tmp_path):
    ws = make_workspace(tmp_path / "ws")
    write_default_corrections(ws)
    run_dir = runs.create_run(ws, builder.build(ws), {"max_steps": 7})
    config = runs.read_run_config(run_dir)
    assert runs.train_config(config) == dataclasses.replace(ws.train, max_steps=7)

    from ftui.engine.train.run import read_config

    path = run_dir / "config.json"
    path.write_text(json.dumps({**config, "max_stpes": 3}, indent=2))
    with pytest.raises(InputError) as exc:
        read_config(run_dir)
    line = path.read_text().splitlines().index('  "max_stpes": 3') + 1
    assert str(exc.value) == f"{path}:{line}: train.max_stpes is not a setting (did you mean `max_steps`?)"

    plan = {"run_id": "r", "max_new_tokens": 32, "flaky_k": 2}
    settings = eval_settings(plan)
    assert (settings.max_new_tokens, settings.flaky_k, settings.batch_size) == (32, 2, EvalConfig().batch_size)


def test_the_hosted_section_and_its_epochs_flag_share_one_rule(tmp_path):
    from ftui.core.hosted.hosted import HostedError, target_for
    from ftui.core.workspace.workspace import HostedConfig

    with pytest.raises(SettingError, match=r"^hosted\.n_epochs must be at least 1$"):
        HostedConfig(base_url="http://x/v1", model="m", n_epochs=0)
    ws = make_workspace(tmp_path / "ws")
    with pytest.raises(HostedError, match=r"^--epochs must be at least 1, not 0$"):
        target_for(ws, base_url="http://x/v1", model="m", epochs=0)
    assert target_for(ws, base_url="http://x/v1/", model="m", epochs=2) == HostedConfig("http://x/v1", "m", n_epochs=2)
