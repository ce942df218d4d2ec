"""The launch plan (one process or `accelerate launch`) and the accelerate-config checks: pure Python."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from ftui.core.base.errors import InputError
from ftui.core.runs.accelerate_checks import check_file, problems
from ftui.core.runs.launch import plan_launch

CONFIGS = Path(__file__).resolve().parents[2] / "accelerate_configs"
RUN = Path("/runs/r1")


def test_one_process_is_the_engine_itself():
    launch = plan_launch({"processes": 0}, RUN, False, "cpu", 0)
    assert launch.argv == [sys.executable, "-m", "ftui.engine", "train", str(RUN)]
    assert not launch.via_accelerate and launch.env == {}


def test_cpu_processes_go_through_torchrun_with_gloo_and_share_the_cores():
    launch = plan_launch({"processes": 2}, RUN, True, "cpu", 0, cpu_count=8)
    argv = launch.argv
    assert argv[1:3] == ["-m", "accelerate.commands.launch"]
    # --cpu would take accelerate's one-process simple launcher; --multi_gpu is torchrun.
    assert "--multi_gpu" in argv and "--cpu" not in argv
    assert argv[argv.index("--num_processes") + 1] == "2"
    assert argv[argv.index("--main_process_port") + 1] == "0"
    assert argv[argv.index("--module") :] == ["--module", "ftui.engine", "train", str(RUN), "--resume"]
    assert launch.env == {"OMP_NUM_THREADS": "4"}
    assert launch.shell().startswith("OMP_NUM_THREADS=4 ")


def test_cuda_defaults_to_one_process_per_gpu_and_refuses_more_than_the_gpus():
    launch = plan_launch({}, RUN, False, "cuda", 4)
    assert launch.processes == 4 and "--multi_gpu" in launch.argv and "OMP_NUM_THREADS" not in launch.env
    with pytest.raises(InputError, match="2 GPU"):
        plan_launch({"processes": 3}, RUN, False, "cuda", 2)


def test_a_config_file_decides_machines_and_its_count_covers_every_machine():
    cfg = {"accelerate_config": str(CONFIGS / "two_machines_rank1.yaml")}
    launch = plan_launch(cfg, RUN, False, "cpu", 0, cpu_count=2)
    argv = launch.argv
    assert argv[argv.index("--config_file") + 1] == cfg["accelerate_config"]
    assert argv[argv.index("--num_processes") + 1] == "2"
    assert (launch.processes, launch.machines, launch.machine_rank) == (1, 2, 1)
    assert "--main_process_port" not in argv  # the file's fixed port, shared by both machines


@pytest.mark.parametrize(
    "name", ["fsdp_qlora.yaml", "deepspeed_zero3_qlora.yaml", "two_machines_rank0.yaml", "two_machines_rank1.yaml"]
)
def test_the_shipped_examples_pass_the_checks(name):
    acc = yaml.safe_load((CONFIGS / name).read_text())
    assert problems(acc, {"qlora": "qlora" in name, "device": "auto"}) == []


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("fsdp_qlora.yaml", "fsdp_config", "fsdp_use_orig_params", True),
            "set fsdp_config.fsdp_use_orig_params: false",
        ),
        (
            ("fsdp_qlora.yaml", "fsdp_config", "fsdp_cpu_ram_efficient_loading", False),
            "set fsdp_config.fsdp_cpu_ram_efficient_loading: true",
        ),
        (("deepspeed_zero3_qlora.yaml", "deepspeed_config", "zero3_init_flag", False), "zero3_init_flag: true"),
        (("two_machines_rank0.yaml", None, "main_process_ip", None), "set main_process_ip"),
        (("two_machines_rank0.yaml", None, "num_processes", 3), "multiple of num_machines"),
    ],
)
def test_known_bad_combinations_name_the_setting(tmp_path, edit, expected):
    name, section, key, value = edit
    acc = yaml.safe_load((CONFIGS / name).read_text())
    target = acc[section] if section else acc
    if value is None:
        target.pop(key)
    else:
        target[key] = value
    path = tmp_path / name
    path.write_text(yaml.safe_dump(acc))
    with pytest.raises(InputError) as err:
        check_file(path, {"qlora": True})
    assert expected in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_sharding_on_the_cpu_is_refused():
    acc = yaml.safe_load((CONFIGS / "fsdp_qlora.yaml").read_text())
    assert any("MULTI_GPU" in p for p in problems(acc, {"qlora": False}, device="cpu"))


def test_workspace_fields_and_the_cli_flag(tmp_path):
    from ftui.core.runs import runs
    from ftui.core.workspace.workspace import Workspace
    from tests.fixtures.tiny_build import write_workspace

    root = write_workspace(tmp_path / "ws", "m", train={"processes": 2, "accelerate_config": "acc.yaml"})
    with pytest.raises(Exception, match="accelerate_config: file not found"):
        Workspace.load(root)
    bad = yaml.safe_load((CONFIGS / "fsdp_qlora.yaml").read_text())
    bad["fsdp_config"]["fsdp_use_orig_params"] = True
    (root / "acc.yaml").write_text(yaml.safe_dump(bad))
    ws = Workspace.load(root)
    assert ws.train.processes == 2
    # Refused before any process starts, naming the file.
    with pytest.raises(InputError, match="fsdp_use_orig_params: false"):
        runs.create_run(ws, runs.latest_build_dir(ws), {"qlora": True})
    run_dir = runs.create_run(ws, runs.latest_build_dir(ws), {"processes": 3})
    cfg = runs.read_run_config(run_dir)
    assert cfg["processes"] == 3 and cfg["accelerate_config"] == str(root / "acc.yaml")
