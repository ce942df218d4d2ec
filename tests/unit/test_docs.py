"""The README and the docs site stay true: a short README with its two commands first (both
running the setup step) and links to pages that exist; every cited path, module, command, flag and
make target real; every ftui.yaml key documented with its real default; the tour's figures what its
commands print; the generated pages in step with the code; the site built with --strict."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import types
import typing
from pathlib import Path

import pytest
import yaml

from ftui.cli import build_parser, main
from ftui.core.workspace.workspace import _DERIVED, Workspace

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
# Where a cited path may live: the repository's own folders.
REPO_PATH = re.compile(r"`((?:ftui|tests|benchmarks|sample_data|accelerate_configs|themes|docs)/[^`\s<>*]*)`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _hooks() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; the reference belongs in docs/"


def test_readme_opens_with_the_two_commands():
    lines = [line for line in README.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert lines[0].startswith("# ")
    assert lines[1].startswith("```"), "the first thing after the title is the commands' code block"
    end = lines.index("```", 2)
    commands = [line.split("#")[0].strip() for line in lines[2:end]]
    assert commands == ["make run", "make test"]


def _make_prerequisites(target: str, rules: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    todo = [target]
    while todo:
        for dep in rules.get(todo.pop(), []):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_both_commands_install_what_they_need():
    rules: dict[str, list[str]] = {}
    for line in (ROOT / "Makefile").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([a-z][\w-]*):(?!=)\s*(.*)$", line)
        if m:
            rules[m[1]] = m[2].split()
    for target in ("run", "test"):
        assert "setup" in _make_prerequisites(target, rules), f"`make {target}` does not run the setup step"
    assert "docs-check" in rules["test"], "`make test` builds the docs site strictly"


def test_every_cited_make_target_exists():
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M))
    for page in [README, *PAGES]:
        text = page.read_text(encoding="utf-8")
        cited = set(re.findall(r"`make ([a-z][\w-]*)", text))
        for block in re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.S):
            cited |= set(re.findall(r"^\s*make ([a-z][\w-]*)", block, flags=re.M))
        assert cited or page.name not in ("README.md", "development.md")
        assert cited <= targets, f"{page.name} cites make targets the Makefile lacks: {sorted(cited - targets)}"


def test_every_benchmark_is_on_the_development_page():
    """Each benchmark script has its row; those `make bench` leaves out are named as running on their own."""
    page = (DOCS / "development.md").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    bench = re.search(r"^bench:.*?(?=^\S|\Z)", makefile, flags=re.M | re.S)
    assert bench
    in_make_bench = set(re.findall(r"benchmarks/(\w+\.py)", bench[0]))
    for script in sorted(p.name for p in (ROOT / "benchmarks").glob("*.py")):
        if script == "gpu_check.py":  # `make gpu-check`, a section of its own
            assert "`benchmarks/gpu_check.py`" in page
            continue
        assert f"| `benchmarks/{script}` |" in page, f"docs/development.md has no row for benchmarks/{script}"
        if script not in in_make_bench:
            assert f"`{script}`" in page, f"docs/development.md does not say `make bench` leaves out {script}"


def test_readme_links_only_to_docs_pages_that_exist():
    targets = LINK.findall(README.read_text(encoding="utf-8"))
    assert targets, "the README links to the docs pages"
    for target in targets:
        if target.startswith(("http://", "https://")):
            continue
        path = target.split("#")[0]
        assert path.startswith("docs/") and path.endswith(".md"), f"README links outside docs/: {target}"
        assert (ROOT / path).is_file(), f"README links to a missing page: {target}"


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.name)
def test_cited_paths_and_modules_exist(page: Path):
    text = page.read_text(encoding="utf-8")
    missing = [p for p in REPO_PATH.findall(text) if not (ROOT / p.rstrip("/")).exists()]
    for module in re.findall(r"python -m (ftui[\w.]*)", text):
        base = ROOT.joinpath(*module.split("."))
        if not (base.with_suffix(".py").exists() or (base / "__main__.py").exists()):
            missing.append(f"python -m {module}")
    assert not missing, f"{page.name} cites what the tree does not have: {missing}"


def test_the_tours_figures_are_the_samples(tmp_path: Path, capsys):
    """The five-minute tour's numbers, from the tour's own commands on a fresh copy of the sample."""
    readme = " ".join(README.read_text(encoding="utf-8").split())
    shutil.copytree(ROOT / "sample_data", tmp_path / "sample_data", ignore=shutil.ignore_patterns(".ftui"))
    ws = str(tmp_path / "sample_data")
    capsys.readouterr()
    assert main(["clusters", ws, "--json"]) == 0
    clusters = json.loads(capsys.readouterr().out)
    assert f"{clusters['failures']} model-attributed failures" in readme
    for c in clusters["clusters"]:
        assert f"`{c['label']}` ({c['count']})" in readme, c
    reviewed = str(tmp_path / "sample_data" / "reviewed_corrections.jsonl")
    assert main(["import-review", reviewed, "-w", ws]) == 0
    saved = int(capsys.readouterr().out.split()[0])
    assert f"# {saved} saved" in readme and f"done/left is {saved}/0" in readme
    assert main(["status", ws]) == 0
    status = " ".join(capsys.readouterr().out.split())
    assert f"Corrected {saved}" in status and f"# Corrected {saved}" in readme
    assert main(["build", ws, "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)["counts"]
    told = (
        f"({counts['train_corrections']} corrections and {counts['train_anchors']} anchors to train on, "
        f"{counts['validation']} validation items to choose the checkpoint, {counts['eval']} held out to judge)"
    )
    assert told in readme


def _subparsers(parser) -> dict:
    for action in parser._actions:
        if action.choices and isinstance(action.choices, dict):
            return action.choices
    return {}


def _cited_commands(text: str) -> list[str]:
    """Each `ftui ...` invocation: inline code spans, and code-block lines (split where a line holds several)."""
    found = list(re.findall(r"`(ftui [^`]+)`", text))
    for block in re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.split(" # ")[0].lstrip("$ ").strip()
            found += [f"ftui {part}" for part in re.split(r"(?:^|\s)ftui ", line)[1:]]
    return found


def test_every_cited_command_and_flag_exists():
    """`ftui clusters`, `ftui draft run CLUSTER --follow`: the command and each flag, as the parser has
    them; `run/resume` or `run|resume` name alternatives."""
    top = _subparsers(build_parser())
    problems = []
    for page in [README, *PAGES]:
        for cited in _cited_commands(page.read_text(encoding="utf-8")):
            words = cited.split()[1:]
            if not words or not re.fullmatch(r"[a-z][a-z-]*([/|][a-z-]+)*", words[0]):
                continue  # `ftui WORKSPACE`, `ftui COMMAND --json`: placeholders
            parsers = []
            for name in re.split(r"[/|]", words[0]):
                if name not in top:
                    problems.append(f"{page.name}: no command `ftui {name}` ({cited})")
                    continue
                parser = top[name]
                nested = _subparsers(parser)
                if nested and len(words) > 1:
                    subs = [s for s in re.split(r"[/|]", words[1]) if s in nested]
                    if not subs:
                        problems.append(f"{page.name}: no `ftui {name} {words[1]}` ({cited})")
                    parsers += [nested[s] for s in subs]
                else:
                    parsers.append(parser)
            for parser in parsers:
                known = {opt for action in parser._actions for opt in action.option_strings}
                for flag in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", " ".join(words)):
                    if flag not in known:
                        problems.append(f"{page.name}: `{parser.prog}` has no {flag} ({cited})")
    assert not problems, "\n".join(problems)


def _config_keys(cls: type, prefix: str = "") -> list[str]:
    """Every key ftui.yaml accepts, dotted (`train.lora_r`), from the settings' dataclasses."""
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in _DERIVED:
            continue
        tp = hints[f.name]
        options = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
        sections = [a for a in options if dataclasses.is_dataclass(a)]
        if sections:
            keys += _config_keys(sections[0], f"{prefix}{f.name}.")
        else:
            keys.append(f"{prefix}{f.name}")
    return keys


def test_every_ftui_yaml_key_is_documented():
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    keys = _config_keys(Workspace)
    assert "train.lora_r" in keys and "eval.forgetting.max_drop" in keys and "fields.question_id" in keys
    missing = [k for k in keys if f"`{k}`" not in page]
    assert not missing, f"docs/configuration.md does not describe: {', '.join(missing)}"


def _defaults(cls: type, prefix: str = "") -> dict[str, object]:
    """Each key's default as ftui.yaml would spell it, for the keys whose section has defaults."""
    out: dict[str, object] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        options = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
        sections = [a for a in options if dataclasses.is_dataclass(a)]
        if sections:
            out.update(_defaults(sections[0], f"{prefix}{f.name}."))
        elif f.default is not dataclasses.MISSING:
            value = f.default
            out[f"{prefix}{f.name}"] = str(value) if isinstance(value, Path) else value
        elif f.default_factory is not dataclasses.MISSING:
            out[f"{prefix}{f.name}"] = f.default_factory()
    return out


def test_documented_defaults_are_the_defaults():
    """A default written as a value on the configuration page is the one the settings have."""
    defaults = _defaults(Workspace)
    checked = 0
    for key, cell in re.findall(r"^\| `([\w.]+)` \| `([^`]+)` \|", (DOCS / "configuration.md").read_text(), re.M):
        if key not in defaults:
            continue
        written = yaml.safe_load(cell) if "\\" not in cell else cell.encode().decode("unicode_escape")
        actual = defaults[key]
        actual = list(actual) if isinstance(actual, tuple) else actual
        assert written == actual, f"docs/configuration.md: `{key}` defaults to {actual!r}, not {cell}"
        checked += 1
    assert checked >= 60, f"only {checked} defaults read from the page"


def test_the_example_ftui_yaml_loads(tmp_path: Path):
    """The commented example on the configuration page is a valid workspace."""
    example = re.search(r"```yaml\n(.*?)```", (DOCS / "configuration.md").read_text(), re.S)
    assert example
    (tmp_path / "ftui.yaml").write_text(example[1], encoding="utf-8")
    for name in ("run_log.jsonl", "benchmark.jsonl"):
        (tmp_path / name).write_text((ROOT / "sample_data" / "run_log.jsonl").read_text(encoding="utf-8"))
    (tmp_path / "general_tasks").mkdir()
    ws = Workspace.load(tmp_path)
    assert ws.train.probes == 16 and ws.eval.forgetting is not None


def test_generated_pages_match_the_code():
    hooks = _hooks()
    assert hooks.stale_pages() == [], f"generated docs pages are out of date: {hooks.FIX}"


def test_the_layers_page_follows_the_contracts(tmp_path: Path):
    """The page is the contracts: a new layer in pyproject.toml changes it, so a stale page fails."""
    hooks = _hooks()
    original = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    changed = tmp_path / "pyproject.toml"
    changed.write_text(original.replace('"ftui.core.ship",', '"ftui.core.ship",\n  "ftui.core.extra",', 1))
    page = hooks.layers_page()
    assert "`ftui.core.ship`" in page and "`ftui.core.judge`" in page
    for contract in hooks.contracts():
        assert f"## {contract['name']}" in page
        for layer in contract.get("layers", []):
            assert f"`{layer}`" in page
    assert "`ftui.core.extra`" in hooks.layers_page(changed)
    assert hooks.layers_page(changed) != page
    for package in ("ftui/core/curate/", "ftui/engine/train/", "ftui/tui/panes/"):
        assert f"`{package}`" in page


def test_a_stale_page_is_a_warning_that_fails_the_strict_build(tmp_path: Path, caplog):
    hooks = _hooks()
    for name in hooks.GENERATED:
        (tmp_path / name).write_text("# out of date\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="mkdocs"):
        hooks.on_pre_build({"docs_dir": str(tmp_path)})
    assert sorted(r.getMessage().split()[0] for r in caplog.records) == sorted(f"docs/{n}" for n in hooks.GENERATED)


def test_mkdocs_build_strict(tmp_path: Path):
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
        pytest.skip("mkdocs and mkdocs-material are not installed (`make setup` installs them)")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "index.html").is_file()
