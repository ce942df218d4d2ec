"""One job machinery and one place per rule: a second copy of any of these fails here, naming where it is."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FTUI = ROOT / "ftui"
JOBS = "ftui/core/base/jobs.py"
CHILD = "ftui/engine/child.py"
BUILD_FILES = "ftui/core/build/files.py"
FOLLOW = "ftui/commands/follow.py"


def _trees() -> dict[str, ast.AST]:
    return {str(p.relative_to(ROOT)): ast.parse(p.read_text(encoding="utf-8")) for p in sorted(FTUI.rglob("*.py"))}


TREES = _trees()


def _defined(kind: type, name: str) -> list[str]:
    return [
        f"{path}:{node.lineno}"
        for path, tree in TREES.items()
        for node in ast.walk(tree)
        if isinstance(node, kind) and getattr(node, "name", None) == name
    ]


def _where(found: list[str]) -> set[str]:
    return {f.rsplit(":", 1)[0] for f in found}


def test_the_scan_reads_the_whole_package():
    assert len(TREES) > 100 and JOBS in TREES and CHILD in TREES and FOLLOW in TREES


def test_one_definition_of_each_piece_of_the_job_machinery():
    for kind, name, home in [
        (ast.ClassDef, "JobState", JOBS),
        (ast.FunctionDef, "fold", JOBS),
        (ast.FunctionDef, "job_state", JOBS),
        (ast.ClassDef, "Tail", JOBS),
        (ast.FunctionDef, "start_child", JOBS),
        (ast.FunctionDef, "out_of_memory", JOBS),
        (ast.ClassDef, "Cancelled", CHILD),
        (ast.ClassDef, "StopRequest", CHILD),
    ]:
        found = _defined(kind, name)
        assert _where(found) == {home} and len(found) == 1, f"{name}: {found}"


def _calls(node: ast.AST, attr: str) -> bool:
    return any(
        isinstance(n, ast.Call)
        and (
            (isinstance(n.func, ast.Attribute) and n.func.attr == attr)
            or (isinstance(n.func, ast.Name) and n.func.id == attr)
        )
        for n in ast.walk(node)
    )


def test_no_follow_loop_outside_the_machinery():
    """A `while` that sleeps is a poll loop: in the CLI only follow.py may build one (on jobs.Tail), and
    nowhere may one read an events file by itself."""
    loops = []
    for path, tree in TREES.items():
        if path == JOBS:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.While) or not _calls(node, "sleep"):
                continue
            reads_events = _calls(node, "read_events") or _calls(node, "Tail")
            tails = any(isinstance(n, ast.Attribute) and n.attr == "poll" for n in ast.walk(node))
            if (path.startswith("ftui/commands/") and path != FOLLOW) or reads_events or tails:
                loops.append(f"{path}:{node.lineno}")
    assert loops == []


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    return [(n.lineno, n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_the_build_files_a_method_reads_are_named_once():
    names = ("dpo_train.jsonl", "dpo_validation.jsonl", "dpo_eval.jsonl", "validation.jsonl")
    found = [
        f"{path}:{line}"
        for path, tree in TREES.items()
        if path != BUILD_FILES
        for line, text in _strings(tree)
        if any(n in text for n in names) and not text.lstrip().startswith(("#", "\n"))
    ]
    # Docstrings and comments may mention the files; code may not.
    docstrings = {
        f"{path}:{node.body[0].lineno}"
        for path, tree in TREES.items()
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    assert [f for f in found if f not in docstrings] == []


def test_out_of_memory_is_recognised_in_one_place():
    """`"out of memory" in text` (however spelled) belongs to jobs.out_of_memory; children take its hint."""
    found = [
        f"{path}:{node.lineno}"
        for path, tree in TREES.items()
        if path != JOBS
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare)
        and isinstance(node.ops[0], ast.In)
        and isinstance(node.left, ast.Constant)
        and isinstance(node.left.value, str)
        and "memory" in node.left.value.lower()
    ]
    assert found == []


def test_the_stop_file_is_named_once():
    found = [
        f"{path}:{node.lineno}"
        for path, tree in TREES.items()
        if path != JOBS
        for node in ast.walk(tree)
        if isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Div)
        and isinstance(node.right, ast.Constant)
        and node.right.value == "stop"
    ]
    assert found == []


def test_every_engine_child_takes_its_stop_through_stop_request():
    signals = defaultdict(list)
    for path, tree in TREES.items():
        if not path.startswith("ftui/engine/") or path == CHILD:
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "signal"
                and node.args
                and isinstance(node.args[0], ast.Attribute)
                and node.args[0].attr == "SIGTERM"
            ):
                signals[path].append(node.lineno)
    # The server children end at once on SIGTERM (nothing to save); the launcher passes a stop on to its ranks.
    assert set(signals) <= {
        "ftui/engine/ship/serve.py",
        "ftui/engine/hosted/service.py",
        "ftui/engine/train/launcher.py",
    }
