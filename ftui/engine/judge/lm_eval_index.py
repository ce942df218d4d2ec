"""lm-eval's task index, with its built-in part built once per lm-eval install.

`TaskManager()` parses every built-in task YAML (about 15,000 entries) on construction: tens of
seconds, paid by every forgetting check that names a built-in task. The built-in part only changes
when lm-eval is reinstalled, so it is pickled in the state folder, keyed by lm-eval's version and its
tasks folder (path, and size and mtime of its package files). A user's own task folder is small and
edited often: it is indexed afresh every time and laid over the built-in part exactly as
lm-eval's `TaskIndex.build` does (later paths override earlier, with its warning).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import pickle
from collections import defaultdict
from itertools import chain
from pathlib import Path
from typing import Any

from ftui.core.base.fsutil import atomic_write_bytes

# The index's shape is lm-eval's own: a changed format of ours must not read an old pickle.
SCHEMA = 1


def defaults_root() -> Path:
    """lm-eval's built-in tasks folder: the path `TaskManager(include_defaults=True)` indexes."""
    import lm_eval.tasks.manager

    return Path(lm_eval.tasks.manager.__file__).parent


def cache_key(root: Path) -> str:
    import lm_eval

    # A reinstall or upgrade rewrites these files; the version alone misses an edited install.
    stamps = []
    for name in ("__init__.py", "manager.py", "_index.py", "_yaml_loader.py"):
        with contextlib.suppress(OSError):
            st = (root / name).stat()
            stamps.append([name, st.st_size, st.st_mtime_ns])
    text = json.dumps([SCHEMA, lm_eval.__version__, str(root.resolve()), stamps])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def builtin_index(cache_dir: Path | None) -> dict[str, Any]:
    """{name: Entry} for lm-eval's built-in tasks, from the cache when this install was indexed before."""
    from lm_eval.tasks._index import TaskIndex

    root = defaults_root()
    path = Path(cache_dir) / f"{cache_key(root)}.pickle" if cache_dir else None
    if path is not None and path.is_file():
        # A truncated or foreign file is rebuilt, never trusted.
        with contextlib.suppress(Exception):
            # Only this module writes here, inside the workspace's own state folder.
            data = pickle.loads(path.read_bytes())
            if isinstance(data, dict) and data.get("root") == str(root) and isinstance(data.get("index"), dict):
                return dict(data["index"])
    index: dict[str, Any] = TaskIndex.build([root])
    if path is not None:
        with contextlib.suppress(OSError):
            payload = {"root": str(root), "index": index}
            atomic_write_bytes(path, pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
            # 15 MB an install: an index of a replaced lm-eval is never read again.
            for old in path.parent.glob("*.pickle"):
                if old != path:
                    old.unlink(missing_ok=True)
    return index


def _overlay(index: dict[str, Any], local: dict[str, Any]) -> dict[str, Any]:
    # lm-eval's TaskIndex.build merge: the include path's entries override the built-in ones.
    log = logging.getLogger("lm_eval.tasks._index")
    merged = dict(index)
    for name, entry in local.items():
        if name in merged:
            log.warning(
                "Task '%s' from %s overrides existing task from %s", name, entry.yaml_path, merged[name].yaml_path
            )
        merged[name] = entry
    return merged


def _adopt(tm: Any, index: dict[str, Any]) -> None:
    # What TaskManager.__init__ derives from its index, derived the same way.
    from lm_eval.tasks._index import Kind

    buckets: dict[Any, list[str]] = defaultdict(list)
    for k, e in index.items():
        buckets[e.kind].append(k)
    tm._index = index
    tm._all_tasks = sorted(index.keys())
    tm._all_subtasks = sorted(chain.from_iterable(buckets[k] for k in {Kind.TASK, Kind.PY_TASK}))
    tm._all_groups = sorted(buckets[Kind.GROUP])
    tm._all_tags = sorted(buckets[Kind.TAG])


def task_manager(include_path: str | None, names: list[str], cache_dir: Path | None) -> Any:
    """A TaskManager resolving names exactly as `TaskManager(include_path=include_path)` does; the
    built-in tasks are read only when a name is not in the include path, and then from the cache."""
    from lm_eval.tasks import TaskManager

    tm = TaskManager(include_path=include_path, include_defaults=False)
    if include_path and all(name in tm.all_tasks for name in names):
        return tm
    if not all(hasattr(tm, a) for a in ("_index", "_all_tasks", "_all_subtasks", "_all_groups", "_all_tags")):
        return TaskManager(include_path=include_path)  # another lm-eval layout: its own full index
    _adopt(tm, _overlay(builtin_index(cache_dir), tm.task_index))
    return tm
