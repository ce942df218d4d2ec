"""lm-eval's built-in task index is built once per install and reused by later checks, with the same
task resolution as lm-eval's own TaskManager (a small folder stands in for the built-in tasks)."""

import json

import pytest

pytest.importorskip("lm_eval")

import lm_eval
from lm_eval.tasks._index import TaskIndex

from ftui.core.judge import forgetting as fg
from ftui.engine.judge import forgetting as engine_fg
from ftui.engine.judge import lm_eval_index

# lm-eval's own index of the given folders, uncounted: what every resolution is compared with.
LM_EVAL_BUILD = TaskIndex.build


def write_task(folder, name, **extra):
    folder.mkdir(parents=True, exist_ok=True)
    cfg = {"task": name, "dataset_path": "json", "output_type": "multiple_choice", **extra}
    (folder / f"{name}.yaml").write_text(json.dumps(cfg), encoding="utf-8")


@pytest.fixture
def builtins(tmp_path, monkeypatch):
    root = tmp_path / "builtin_tasks"
    write_task(root / "arith", "arith_easy", tag="arith_all")
    write_task(root / "arith", "arith_hard", tag="arith_all")
    write_task(root / "facts", "world_facts")
    monkeypatch.setattr(lm_eval_index, "defaults_root", lambda: root)
    built = []

    def counting(paths, **kw):
        paths = list(paths)
        built.append(paths)
        return LM_EVAL_BUILD(paths, **kw)

    monkeypatch.setattr(TaskIndex, "build", staticmethod(counting))
    return root, built


def builtin_builds(built, root):
    return sum(1 for paths in built if root in paths)


def same_as_lm_eval(tm, paths):
    want = LM_EVAL_BUILD(paths)
    assert tm.all_tasks == sorted(want)
    assert {k: (e.kind, e.yaml_path, e.tags) for k, e in tm.task_index.items()} == {
        k: (e.kind, e.yaml_path, e.tags) for k, e in want.items()
    }


def test_the_second_check_reads_the_builtin_index_from_the_cache(builtins, tmp_path):
    root, built = builtins
    cache = tmp_path / "state" / "cache" / fg.INDEX_CACHE
    first = lm_eval_index.task_manager(None, ["arith_easy"], cache)
    assert builtin_builds(built, root) == 1
    assert len(list(cache.glob("*.pickle"))) == 1
    second = lm_eval_index.task_manager(None, ["arith_easy"], cache)
    assert builtin_builds(built, root) == 1
    assert first.all_tasks == second.all_tasks == ["arith_all", "arith_easy", "arith_hard", "world_facts"]
    assert second.all_tags == ["arith_all"] and second.all_subtasks == ["arith_easy", "arith_hard", "world_facts"]
    same_as_lm_eval(second, [root])


def test_a_changed_lm_eval_or_a_broken_cache_file_rebuilds(builtins, tmp_path, monkeypatch):
    root, built = builtins
    cache = tmp_path / "cache"
    lm_eval_index.task_manager(None, ["world_facts"], cache)
    monkeypatch.setattr(lm_eval, "__version__", lm_eval.__version__ + ".post1")
    lm_eval_index.task_manager(None, ["world_facts"], cache)
    assert builtin_builds(built, root) == 2
    assert len(list(cache.glob("*.pickle"))) == 1  # the replaced install's index is gone
    for p in cache.glob("*.pickle"):
        p.write_bytes(b"not a pickle")
    tm = lm_eval_index.task_manager(None, ["world_facts"], cache)
    assert builtin_builds(built, root) == 3
    same_as_lm_eval(tm, [root])


def test_the_include_path_is_read_afresh_and_overrides_builtins_like_lm_eval(builtins, tmp_path):
    root, built = builtins
    cache = tmp_path / "cache"
    mine = tmp_path / "my_tasks"
    write_task(mine, "my_probe")
    write_task(mine, "world_facts", dataset_path="csv")  # overrides the built-in one, as in lm-eval
    tm = lm_eval_index.task_manager(str(mine), ["arith_easy", "my_probe"], cache)
    same_as_lm_eval(tm, [root, mine])
    assert tm.task_index["world_facts"].yaml_path == mine / "world_facts.yaml"
    # The user's folder changes, and another folder is named: both are seen without re-indexing built-ins.
    write_task(mine, "my_second")
    other = tmp_path / "other_tasks"
    write_task(other, "other_probe")
    tm = lm_eval_index.task_manager(str(mine), ["arith_hard", "my_second"], cache)
    assert "my_second" in tm.all_tasks
    same_as_lm_eval(tm, [root, mine])
    tm = lm_eval_index.task_manager(str(other), ["arith_hard", "other_probe"], cache)
    same_as_lm_eval(tm, [root, other])
    assert "my_probe" not in tm.all_tasks
    assert builtin_builds(built, root) == 1
    # Only local names: lm-eval's built-in tasks are not even read.
    lm_eval_index.task_manager(str(other), ["other_probe"], tmp_path / "unused")
    assert not (tmp_path / "unused").exists()


def test_an_unknown_task_still_gets_its_one_line_error(builtins, tmp_path):
    root, built = builtins
    run_dir = tmp_path / "run"
    d = fg.job_dir(run_dir)
    d.mkdir(parents=True)
    cache = tmp_path / "cache"
    cfg = {"tasks": ["arith_eazy"], "include_path": None, "index_cache_dir": str(cache)}
    (d / fg.CONFIG).write_text(json.dumps(cfg), encoding="utf-8")
    for _ in range(2):
        check = engine_fg.Check(run_dir, emit=lambda *a, **k: None)
        tm = check.task_manager()
        with pytest.raises(engine_fg.TaskUnavailable) as err:
            check.check_known(tm, "arith_eazy")
        assert str(err.value) == "unknown task 'arith_eazy': not an lm-eval task (did you mean 'arith_easy'?)"
    assert builtin_builds(built, root) == 1
