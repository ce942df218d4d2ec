"""`ftui COMMAND | head -1`: every command ends quietly when its reader goes away."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from ftui.cli import EXIT_PIPE, build_parser, main
from tests.fixtures.eval_run import make_eval_workspace, write_fixture_run

ROOT = Path(__file__).resolve().parents[2]


class ClosedAfterFirstWrite(io.TextIOBase):
    """A stdout whose reader read one chunk and left: later writes and flushes break the pipe."""

    def __init__(self) -> None:
        self.writes = 0

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        self.writes += 1
        if self.writes > 1:
            raise BrokenPipeError(32, "Broken pipe")
        return len(s)

    def flush(self) -> None:
        if self.writes:
            raise BrokenPipeError(32, "Broken pipe")


@pytest.fixture
def fixture_run(tmp_path):
    adapter = tmp_path / "adapter-src"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    ws, run_dir = make_eval_workspace(tmp_path / "ws", tmp_path / "model", adapter)
    write_fixture_run(ws, run_dir)
    return ws, run_dir


def _argv(command: str, ws, run_dir) -> list[str]:
    w = ["-w", str(ws.root)]
    # Commands that print what a workspace holds run for real; the ones that start jobs, write
    # files or open the workbench print their help, which goes through the same main.
    real = {
        "status": ["status", *w],
        "clusters": ["clusters", *w],
        "runs": ["runs", *w],
        "builds": ["builds", *w],
        "report": ["report", run_dir.name, *w],
        "postmortem": ["postmortem", run_dir.name, *w],
        "logs": ["logs", run_dir.name, *w],
        "exports": ["exports", run_dir.name, *w],
    }
    return real.get(command, [command, "--help"])


def test_every_command_ends_quietly_when_the_pipe_closes(fixture_run, monkeypatch, capsys):
    ws, run_dir = fixture_run
    commands = sorted(build_parser().get_default("known_commands"))
    assert {"report", "postmortem", "status", "train", "eval"} <= set(commands)
    for command in commands:
        out = ClosedAfterFirstWrite()
        monkeypatch.setattr(sys, "stdout", out)
        try:
            code = main(_argv(command, ws, run_dir))
        except SystemExit as exc:  # argparse's --help exits after printing
            code = exc.code
        monkeypatch.undo()
        err = capsys.readouterr().err
        assert "Traceback" not in err and "BrokenPipeError" not in err, command
        assert out.writes >= 1, f"{command} printed nothing"
        if out.writes > 1 or command in ("report", "postmortem"):
            assert code in (EXIT_PIPE, 0), (command, code)


def test_a_real_pipe_closed_before_the_first_line_leaves_no_traceback(fixture_run):
    ws, run_dir = fixture_run
    # `true` exits at once, long before the interpreter has started: every write meets a closed pipe.
    cmd = f"{sys.executable} -m ftui report {run_dir.name} -w {ws.root} | true"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", cmd], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.stderr == "" and done.returncode == EXIT_PIPE
