"""No import cycle among ftui's modules: each one can be read, tested and moved without the others.

The graph is grimp's (the one import-linter checks the layer contracts on), built with the
contracts' own options from pyproject.toml, so an import under `if TYPE_CHECKING:` does not count
here either. It is built in a child process so that a copy of the tree can be checked too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections import deque
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def import_cycles(package: str, options: dict[str, bool]) -> list[dict[str, list[str]]]:
    """Each knot of `package`'s import graph: its modules, and a shortest way round from the first.

    A knot is a strongly connected component of several modules (or of one importing itself):
    every module in it is on a cycle, and the way round (a -> b -> a) shows one of them.
    """
    import grimp

    graph = grimp.build_graph(package, cache_dir=None, **options)
    mods = sorted(m for m in graph.modules if m == package or m.startswith(package + "."))
    inside = set(mods)
    adj = {m: sorted(x for x in graph.find_modules_directly_imported_by(m) if x in inside) for m in mods}
    components = _strongly_connected(mods, adj)
    knots = [comp for comp in components if len(comp) > 1 or comp[0] in adj[comp[0]]]
    return [{"modules": comp, "way_round": _way_round(comp, adj)} for comp in knots]


def _strongly_connected(nodes: list[str], adj: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (the graph's depth is not bounded by Python's stack)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = len(index)
                stack.append(v)
                on_stack.add(v)
            recurse = False
            for k in range(i, len(adj[v])):
                w = adj[v][k]
                if w not in index:
                    work.append((v, k + 1))
                    work.append((w, 0))
                    recurse = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if recurse:
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return out


def _way_round(comp: list[str], adj: dict[str, list[str]]) -> list[str]:
    start, members = comp[0], set(comp)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for w in adj[v]:
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if w in members and w not in came_from:
                came_from[w] = v
                queue.append(w)
    return [*comp, start]  # not reached: every module of a component is on a cycle through the first


def _contract_options(pyproject: Path) -> tuple[str, dict[str, bool]]:
    cfg = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["importlinter"]
    (package,) = cfg["root_packages"]
    options = {k: bool(cfg.get(k, False)) for k in ("include_external_packages", "exclude_type_checking_imports")}
    return package, options


def _cycles_of(tree: Path) -> list[dict[str, list[str]]]:
    """The cycles of the package in `tree`, found by a child process that imports from `tree` only."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    res = subprocess.run(
        [sys.executable, __file__, str(tree / "pyproject.toml")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tree,
        env=env,
    )
    assert res.returncode == 0, res.stderr
    return list(json.loads(res.stdout))


def _say(cycles: list[dict[str, list[str]]]) -> str:
    lines = ["import cycles among ftui's modules:"]
    for c in cycles:
        lines.append("  " + " -> ".join(c["way_round"]))
        lines.append("    modules in this knot: " + ", ".join(c["modules"]))
    return "\n".join(lines)


def test_no_import_cycle_among_the_modules() -> None:
    cycles = _cycles_of(REPO)
    assert not cycles, _say(cycles)


def test_a_cycle_is_found_and_its_modules_named(tmp_path: Path) -> None:
    shutil.copytree(REPO / "ftui", tmp_path / "ftui", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    # formatting stands on nothing in ftui; making it import a module that imports it closes a loop.
    assert "ftui.core.base.formatting" in (tmp_path / "ftui/core/runs/text.py").read_text()
    assert "ftui.core.base.formatting" in (tmp_path / "ftui/core/judge/postmortem.py").read_text()
    low = tmp_path / "ftui/core/base/formatting.py"
    low.write_text(
        low.read_text() + "\nimport ftui.core.runs.text\n"
        # An import for annotations only does not run: the contracts leave it out, and so does this.
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import ftui.core.judge.postmortem\n"
    )
    cycles = _cycles_of(tmp_path)
    assert len(cycles) == 1, _say(cycles)
    (cycle,) = cycles
    assert cycle["modules"] == ["ftui.core.base.formatting", "ftui.core.runs.text"]
    assert cycle["way_round"] == ["ftui.core.base.formatting", "ftui.core.runs.text", "ftui.core.base.formatting"]
    assert "ftui.core.base.formatting -> ftui.core.runs.text" in _say(cycles)


if __name__ == "__main__":
    package, options = _contract_options(Path(sys.argv[1]))
    print(json.dumps(import_cycles(package, options)))
