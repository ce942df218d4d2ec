"""The layer rules are contracts that `make lint` checks: an import that goes up breaks it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(tree / "pyproject.toml")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tree,
        env=env,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} is missing: the dev extra installs import-linter")
    shutil.copytree(REPO / "ftui", tmp_path / "ftui", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_its_layers(tree: Path) -> None:
    res = _lint(tree)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize(
    ("module", "line", "names"),
    [
        ("ftui/core/curate/clusters.py", "import ftui.tui.app", "ftui.core.curate.clusters -> ftui.tui.app"),
        ("ftui/tui/panes/train/pane.py", "import ftui.engine.train.run", "ftui.engine.train.run"),
        ("ftui/commands/curate.py", "import torch", "torch"),
        ("ftui/core/runs/runs.py", "import textual", "textual"),
        # Inside each layer, a step that reaches up to a later one.
        (
            "ftui/core/logs/fields.py",
            "import ftui.core.judge.evalrun",
            "ftui.core.logs.fields -> ftui.core.judge.evalrun",
        ),
        (
            "ftui/engine/infer/generate.py",
            "import ftui.engine.train.run",
            "ftui.engine.infer.generate -> ftui.engine.train.run",
        ),
        (
            "ftui/tui/widgets/word_diff.py",
            "import ftui.tui.panes.base",
            "ftui.tui.widgets.word_diff -> ftui.tui.panes.base",
        ),
    ],
)
def test_an_import_against_the_layers_breaks_the_lint(tree: Path, module: str, line: str, names: str) -> None:
    path = tree / module
    path.write_text(path.read_text() + f"\n{line}\n")
    res = _lint(tree)
    assert res.returncode != 0
    assert "BROKEN" in res.stdout and names in res.stdout, res.stdout
