"""Pages written from the code, so they cannot drift from it: the layers and packages, from
pyproject.toml's import-linter contracts and each package's docstring. (The keys page is checked
against the key map by tests/tui/test_keys.py.)

`python docs/hooks.py` rewrites them; as an mkdocs hook it only checks them, and a stale page is a
warning, which `mkdocs build --strict` (part of `make test`) turns into a failure.
"""

from __future__ import annotations

import ast
import logging
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# The packages whose subpackages the architecture page lists.
PACKAGE_ROOTS = ("ftui/core", "ftui/engine", "ftui/tui")
FIX = "run `python docs/hooks.py` (or `make docs`) and commit the result"

log = logging.getLogger("mkdocs.hooks.ftui")


def _docstring(path: Path) -> str:
    """The first paragraph of a module's docstring, on one line ("" when it has none)."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return _cell(doc.split("\n\n")[0])


def _cell(text: str) -> str:
    """Text for one table cell: one line, its pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _module_file(dotted: str) -> Path:
    base = ROOT.joinpath(*dotted.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def contracts(pyproject: Path = ROOT / "pyproject.toml") -> list[dict[str, Any]]:
    with pyproject.open("rb") as f:
        return list(tomllib.load(f)["tool"]["importlinter"]["contracts"])


def layers_page(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """docs/architecture-layers.md: every contract as `make lint` enforces it, then every package."""
    out = [
        "# Layers and packages",
        "",
        "<!-- Written by docs/hooks.py from pyproject.toml and the packages' docstrings; do not edit. -->",
        "",
        "`make lint` runs import-linter on these contracts (`[tool.importlinter]` in `pyproject.toml`).",
        "In a `layers` contract a module may import only the layers listed below it; a `forbidden`",
        "contract names modules its sources may never import.",
        "",
    ]
    for contract in contracts(pyproject):
        out += [f"## {contract['name']}", ""]
        if contract["type"] == "layers":
            out += ["| layer (top to bottom) | what it holds |", "|---|---|"]
            for layer in contract["layers"]:
                path = _module_file(layer)
                doc = _docstring(path) if path.exists() else ""
                out.append(f"| `{layer}` | {doc or '—'} |")
        elif contract["type"] == "forbidden":
            sources = ", ".join(f"`{m}`" for m in contract["source_modules"])
            banned = ", ".join(f"`{m}`" for m in contract["forbidden_modules"])
            out.append(f"{sources} never import {banned}.")
        else:
            out.append(f"A `{contract['type']}` contract; see `pyproject.toml`.")
        out.append("")
    out += ["## Packages", ""]
    for root in PACKAGE_ROOTS:
        out += [f"### `{root}/`", "", "| package | what it holds |", "|---|---|"]
        for init in sorted((ROOT / root).rglob("__init__.py")):
            if init.parent == ROOT / root:
                continue
            rel = init.parent.relative_to(ROOT).as_posix()
            out.append(f"| `{rel}/` | {_docstring(init) or '—'} |")
        out.append("")
    return "\n".join(out)


GENERATED: dict[str, Callable[[], str]] = {"architecture-layers.md": layers_page}


def stale_pages(docs: Path = DOCS) -> list[str]:
    """The generated pages whose committed text differs from what the code gives now."""
    stale = []
    for name, make in GENERATED.items():
        page = docs / name
        if not page.exists() or page.read_text(encoding="utf-8") != make() + "\n":
            stale.append(name)
    return stale


def on_pre_build(config: Any) -> None:
    for name in stale_pages(Path(config["docs_dir"])):
        log.warning("docs/%s does not match the code: %s", name, FIX)


def write_pages(docs: Path = DOCS) -> list[str]:
    written = []
    for name, make in GENERATED.items():
        page = docs / name
        text = make() + "\n"
        if not page.exists() or page.read_text(encoding="utf-8") != text:
            page.write_text(text, encoding="utf-8")
            written.append(name)
    return written


if __name__ == "__main__":
    for name in write_pages():
        print(f"wrote docs/{name}")
