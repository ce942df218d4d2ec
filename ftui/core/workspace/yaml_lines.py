"""ftui.yaml's YAML nodes into a section's values, every error naming the file and the line.

The composed node tree (not `yaml.safe_load`'s plain values) is read because it keeps each key's
line; the type each value must have comes from the section dataclass's own annotations.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Union

import yaml

from ftui.core.base.errors import ConfigError
from ftui.core.workspace.settings import SettingError, nearest


def convert_mapping(
    node: yaml.Node, cls: type, path: Path, prefix: str, skip: typing.AbstractSet[str] = frozenset()
) -> dict[str, Any]:
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(path, node.start_mark.line + 1, f"`{prefix.rstrip('.') or 'top level'}` must be a mapping")
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls) if f.name not in skip]
    out: dict[str, Any] = {}
    for knode, vnode in node.value:
        key = knode.value
        line = knode.start_mark.line + 1
        if not isinstance(key, str) or key not in valid:
            raise ConfigError(path, line, f"unknown key `{prefix}{key}`{nearest(str(key), valid)}")
        if key in out:
            raise ConfigError(path, line, f"duplicate key `{prefix}{key}`")
        out[key] = _convert(vnode, hints[key], path, f"{prefix}{key}")
    return out


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _convert(node: yaml.Node, tp: Any, path: Path, key: str) -> Any:
    line = node.start_mark.line + 1
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null" and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(node, arg, path, key)
            except ConfigError as exc:
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        names = " or ".join(_type_name(a) for a in args if a is not type(None))
        raise ConfigError(path, line, f"`{key}` must be {names}")
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        values = convert_mapping(node, tp, path, key + ".")
        try:
            return tp(**values)
        except SettingError as exc:
            # The section's own rule: point at the key's line inside the section.
            first = exc.problems[0][0].split(".")[0]
            lines = {k.value: k.start_mark.line + 1 for k, _ in typing.cast(yaml.MappingNode, node).value}
            raise ConfigError(path, lines.get(first, line), exc.first) from None
        except TypeError as exc:
            missing = [
                f.name
                for f in dataclasses.fields(tp)
                if f.name not in values
                and f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING
            ]
            raise ConfigError(path, line, f"`{key}` is missing {', '.join(f'`{m}`' for m in missing) or exc}") from None
    value = _construct(node)
    if tp in (dict,) or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(path, line, f"`{key}` must be a mapping")
        return value
    if tp in (list, tuple) or origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(path, line, f"`{key}` must be a list")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, line, f"`{key}` must be true or false, not {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, line, f"`{key}` must be a whole number, not {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):
            # YAML 1.1 reads `1e-4` (no dot) as text; a number is what the user meant.
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(path, line, f"`{key}` must be a number, not {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(path, line, f"`{key}` must be text, not {value!r}")
        return value
    if tp is Path:
        if not isinstance(value, str):
            raise ConfigError(path, line, f"`{key}` must be a path")
        return value
    return value


def _construct(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()
