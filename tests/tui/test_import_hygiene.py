"""The workbench's import path must not load the training stack (it costs seconds and GPU memory)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "transformers", "trl", "peft", "datasets", "accelerate")

PROBE = f"""
import json, sys
import ftui.cli
import ftui.commands.tui
import ftui.tui.app
from ftui.tui.screens import clusters, correct, data, train, compare, template, run_form, help, confirm, export, markdown_view
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))
"""


def test_tui_imports_no_training_stack():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_cli_does_not_import_textual_until_open():
    probe = "import sys, ftui.cli; ftui.cli.build_parser(); print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"
