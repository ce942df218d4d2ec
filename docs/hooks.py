"""Pages written from the code, so they cannot drift from it: the layers and packages (from
pyproject.toml's import-linter contracts and each package's docstring) and the workbench's keys
(from the Textual bindings).

`python docs/hooks.py` rewrites them; as an mkdocs hook it only checks them, and a stale page is a
warning, which `mkdocs build --strict` (part of `make test`) turns into a failure.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import logging
import pkgutil
import re
import sys
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


def _key_name(key: str) -> str:
    names = {"question_mark": "?", "left_square_bracket": "[", "right_square_bracket": "]", "plus": "+", "minus": "-"}
    return " / ".join(f"`{names.get(k.strip(), k.strip())}`" for k in key.split(","))


def _title(cls: type) -> str:
    words = re.findall(r"[A-Z][a-z]*", cls.__name__)
    return " ".join([words[0], *(w.lower() for w in words[1:])])


# Titles the class names do not say; any other class is titled from its name.
TITLES = {
    "FtuiApp": "Everywhere",
    "RowTable": "Every table",
    "InitApp": "The init screen (opening a folder that has a log but no ftui.yaml)",
}


def _binding_classes() -> list[type]:
    """Every class of ftui.tui that declares its own BINDINGS: the app first, then the panes in
    their key order, then the rest."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import ftui.tui

    found: list[type] = []
    for info in pkgutil.walk_packages(ftui.tui.__path__, "ftui.tui."):
        module = importlib.import_module(info.name)
        for cls in vars(module).values():
            if inspect.isclass(cls) and cls.__module__ == module.__name__ and "BINDINGS" in cls.__dict__:
                found.append(cls)
    from ftui.tui.app import PANES

    order = ["FtuiApp", *(f"{mode.title()}Pane" for _, mode, _ in PANES)]
    # After the app and its panes: the panes' own screens, then the shared dialogs and widgets.
    places = ("ftui.tui.panes.", "ftui.tui.dialogs.", "ftui.tui.widgets.")

    def rank(cls: type) -> tuple[int, int, str]:
        first = order.index(cls.__name__) if cls.__name__ in order else len(order)
        place = next((i for i, p in enumerate(places) if cls.__module__.startswith(p)), len(places))
        return first, place, cls.__module__

    return sorted(found, key=rank)


def keys_page() -> str:
    """docs/keys.md: each screen's keys with the tooltips the footer and `?` show."""
    from textual.app import App

    out = [
        "# Keys",
        "",
        "<!-- Written by docs/hooks.py from the workbench's key bindings; do not edit. -->",
        "",
        "Every action has a key, and everything works at 80×24 without a mouse. `?` shows the keys of the",
        f"pane you are in, `{App.COMMAND_PALETTE_BINDING}` opens the command palette (every action by name),",
        "and the footer lists the keys marked *footer* below. Keys of a pane work while it is shown;",
        "a modal screen's keys while it is open.",
        "",
    ]
    for cls in _binding_classes():
        rel = cls.__module__.replace(".", "/") + ".py"
        title = TITLES.get(cls.__name__) or _title(cls)
        out += [f"## {title}", "", f"`{cls.__name__}` in `{rel}`", "", "| key | action | footer |", "|---|---|---|"]
        for b in cls.BINDINGS:
            key, text, show = (b.key, b.tooltip or b.description, b.show) if hasattr(b, "key") else (b[0], b[-1], True)
            out.append(f"| {_key_name(key)} | {_cell(text)} | {'yes' if show else ''} |")
        out.append("")
    return "\n".join(out)


GENERATED: dict[str, Callable[[], str]] = {"architecture-layers.md": layers_page, "keys.md": keys_page}


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
