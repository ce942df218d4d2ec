"""The UI and CLI processes never load the training stack (an 11 s import) or, for core, the UI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "trl", "peft", "datasets", "accelerate")

PROBE = """
import importlib, json, sys
mods, forbidden = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for m in mods:
    importlib.import_module(m)
    bad = sorted(f for f in forbidden if f in sys.modules)
    if bad:
        print(json.dumps({"module": m, "loaded": bad}))
        sys.exit(1)
print(json.dumps({"ok": mods}))
"""


def _modules(package_dir: Path, package: str) -> list[str]:
    """Every module below the package, subpackages included."""
    names = []
    for p in package_dir.rglob("*.py"):
        parts = p.relative_to(package_dir).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join((package, *parts)))
    return sorted(names)


def probe(modules: list[str], forbidden: tuple[str, ...]) -> dict:
    r = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(modules), json.dumps(list(forbidden))],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert r.stdout.strip(), r.stderr
    return {"code": r.returncode, **json.loads(r.stdout.strip().splitlines()[-1])}


def test_core_cli_and_commands_load_neither_training_stack_nor_textual():
    mods = [*_modules(REPO / "ftui" / "core", "ftui.core"), "ftui.cli"]
    mods += _modules(REPO / "ftui" / "commands", "ftui.commands")
    assert "ftui.core.curate.clusters" in mods and "ftui.core.logs.runlog" in mods
    res = probe(mods, (*HEAVY, "textual"))
    assert res["code"] == 0, f"importing {res.get('module')} loaded {res.get('loaded')}"
    assert res["ok"] == mods


def test_cli_parser_build_loads_no_heavy_module():
    # Building the parser imports every command module, as `ftui --help` does.
    code = (
        "import sys; from ftui.cli import build_parser; build_parser(); "
        f"bad = [m for m in {[*list(HEAVY), 'textual']!r} if m in sys.modules]; print(bad); sys.exit(bool(bad))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stdout + r.stderr


def test_workbench_loads_no_training_stack():
    mods = ["ftui.commands.tui", "ftui.tui.app", *_modules(REPO / "ftui" / "tui" / "panes", "ftui.tui.panes")]
    mods += _modules(REPO / "ftui" / "tui" / "widgets", "ftui.tui.widgets")
    assert "ftui.tui.panes.train.pane" in mods
    res = probe(mods, HEAVY)
    assert res["code"] == 0, f"importing {res.get('module')} loaded {res.get('loaded')}"


def test_cli_does_not_import_textual_until_open():
    probe_code = "import sys, ftui.cli; ftui.cli.build_parser(); print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe_code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_the_probe_can_fail():
    # The check is real: a module that imports a forbidden one is caught and named.
    res = probe(["string", "fractions"], ("decimal",))
    assert res["code"] == 1 and res["module"] == "fractions" and res["loaded"] == ["decimal"]
