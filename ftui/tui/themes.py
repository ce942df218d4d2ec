"""User theme files: TOML files mapping to Textual `Theme` fields, validated with clear messages.

Searched, later folders winning on a name clash: the project's `themes/` folder, the user config
folder (`$XDG_CONFIG_HOME/ftui/themes` or `~/.config/ftui/themes`), and `<workspace>/themes`.
A broken file never stops the app: it is reported as `file:line: reason` and skipped.
"""

from __future__ import annotations

import difflib
import os
import sys
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import Theme

COLOR_KEYS = (
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)
NUMBER_KEYS = ("luminosity_spread", "text_alpha")
VALID_KEYS = ("name", "dark", "ansi", "variables", *COLOR_KEYS, *NUMBER_KEYS)
FALLBACK = "textual-dark"


@dataclass(frozen=True)
class ThemeProblem:
    path: Path
    line: int | None
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}" if self.line else f"{self.path}: {self.reason}"


def theme_dirs(workspace_root: Path | None = None) -> list[Path]:
    # A checkout keeps them beside the package; a wheel install puts them under <prefix>/share.
    dirs = [Path(sys.prefix) / "share" / "ftui" / "themes", Path(__file__).resolve().parents[2] / "themes"]
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    dirs.append(Path(config) / "ftui" / "themes")
    if workspace_root is not None:
        dirs.append(Path(workspace_root) / "themes")
    return dirs


def _line_of(text: str, key: str) -> int | None:
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith(f"{key} ") or line.strip().startswith(f"{key}="):
            return n
    return None


def parse_theme(path: Path) -> Theme:
    """Read one theme file; raises ThemeProblem-carrying ValueError on anything wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ThemeError(ThemeProblem(path, None, f"cannot read: {exc}")) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib puts "(at line N, column M)" in the message.
        msg = str(exc)
        line = None
        if "line " in msg:
            try:
                line = int(msg.split("line ")[1].split(",")[0].rstrip(")"))
            except ValueError:
                line = None
        raise ThemeError(ThemeProblem(path, line, f"invalid TOML: {msg.split(' (at')[0]}")) from None
    for key in data:
        if key not in VALID_KEYS:
            close = difflib.get_close_matches(key, VALID_KEYS, n=1, cutoff=0.5)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            raise ThemeError(ThemeProblem(path, _line_of(text, key), f"unknown key `{key}`{hint}"))
    name = data.get("name") or path.stem
    if not isinstance(name, str):
        raise ThemeError(ThemeProblem(path, _line_of(text, "name"), "`name` must be text"))
    if "primary" not in data:
        raise ThemeError(ThemeProblem(path, None, "missing required key `primary`"))
    kwargs: dict = {"name": name}
    for key in COLOR_KEYS:
        if key in data:
            value = data[key]
            try:
                if not isinstance(value, str):
                    raise ColorParseError(f"expected a colour string, got {type(value).__name__}")
                Color.parse(value)
            except ColorParseError as exc:
                raise ThemeError(
                    ThemeProblem(path, _line_of(text, key), f"`{key}`: not a colour ({value!r}): {exc}")
                ) from None
            kwargs[key] = value
    for key in ("dark", "ansi"):
        if key in data:
            if not isinstance(data[key], bool):
                raise ThemeError(ThemeProblem(path, _line_of(text, key), f"`{key}` must be true or false"))
            kwargs[key] = data[key]
    for key in NUMBER_KEYS:
        if key in data:
            if not isinstance(data[key], (int, float)) or isinstance(data[key], bool):
                raise ThemeError(ThemeProblem(path, _line_of(text, key), f"`{key}` must be a number"))
            kwargs[key] = float(data[key])
    if "variables" in data:
        variables = data["variables"]
        if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
            raise ThemeError(
                ThemeProblem(
                    path,
                    _line_of(text, "[variables]") or _line_of(text, "variables"),
                    "`variables` must be a table of strings",
                )
            )
        kwargs["variables"] = dict(variables)
    return Theme(**kwargs)


class ThemeError(ValueError):
    def __init__(self, problem: ThemeProblem):
        super().__init__(str(problem))
        self.problem = problem


def load_user_themes(workspace_root: Path | None = None) -> tuple[list[Theme], list[ThemeProblem]]:
    themes: dict[str, Theme] = {}
    problems: list[ThemeProblem] = []
    for folder in theme_dirs(workspace_root):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                theme = parse_theme(path)
            except ThemeError as exc:
                problems.append(exc.problem)
                continue
            themes[theme.name] = theme
    return list(themes.values()), problems


assert {f.name for f in fields(Theme)} >= set(VALID_KEYS), "Theme fields changed"
