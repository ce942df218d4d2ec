"""Discovery: groups failures by how they failed, deterministically, with readable names."""

from __future__ import annotations

import dataclasses

import pytest

from ftui.core.curate.clusters import cluster_failures
from ftui.core.curate.discovery import DiscoveryError, agreement, discover
from ftui.core.logs.runlog import load_run_log
from ftui.core.workspace.workspace import Workspace
from tests.fixtures.unlabeled import kind_of, make_unlabeled_workspace


@pytest.fixture
def failures(tmp_path):
    ws = Workspace.load(make_unlabeled_workspace(tmp_path / "ws"))
    log = load_run_log(ws)
    return [it for c in cluster_failures(ws, log).clusters for it in c.items]


def test_finds_the_three_ways_of_failing_and_names_them(failures):
    d = discover(failures, seed=0)
    assert d.chosen_by == "signature" and d.k == 3
    kinds = {c.name: {kind_of(i) for i in c.ids} for c in d.clusters}
    assert kinds == {
        "prose_where_json_expected": {"json"},
        "refusal": {"refusal"},
        "other_language": {"language"},
    }
    json_cluster = next(c for c in d.clusters if c.signature == "prose_for_json")
    assert json_cluster.description.startswith("prose where JSON was expected (8 of 8)")
    assert len(json_cluster.representatives) == 3 and set(json_cluster.representatives) <= set(json_cluster.ids)
    m = agreement([kind_of(it.id) for it in failures], [d.assignment[it.id] for it in failures])
    assert m == {"ari": 1.0, "purity": 1.0}


def test_same_seed_same_clusters_whatever_the_order(failures):
    a = discover(failures, seed=3).assignment
    b = discover(list(reversed(failures)), seed=3).assignment
    assert a == b


def test_user_k_and_prefix(failures):
    d = discover(failures, seed=0, k=2, prefix="parent/", view="topic")
    assert d.chosen_by == "user" and len(d.clusters) == 2
    assert all(c.name.startswith("parent/") for c in d.clusters)
    assert sorted(i for c in d.clusters for i in c.ids) == sorted(it.id for it in failures)


def test_requests_under_different_instructions_start_apart(failures):
    # Same answers, but half the items were asked for a one-line answer: two requests.
    other = [dataclasses.replace(it, id="x" + it.id, system_prompt="Answer in one line.") for it in failures[:6]]
    d = discover(failures[6:] + other, seed=0)
    for c in d.clusters:
        assert len({i.startswith("x") for i in c.ids}) == 1


def test_too_few_or_no_items(failures):
    assert [len(c.ids) for c in discover(failures[:2]).clusters] == [2]
    with pytest.raises(DiscoveryError):
        discover([])
    with pytest.raises(DiscoveryError):
        discover(failures, k=0)
