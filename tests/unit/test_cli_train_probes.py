from ftui.commands.train import format_event
from ftui.core import events, runs
from tests.fixtures.datasets.workspace import make_workspace, write_default_corrections


def test_probe_events_print_one_line():
    ev = events.make(
        "probe",
        step=8,
        cluster_passed=5,
        cluster_total=7,
        anchors_passed=1,
        anchors_total=2,
        broken_ids=["ok-3"],
    )
    line = format_event(ev)
    assert line.endswith("probe  step 8  cluster 5/7  anchors 1/2  broken ok-3")


def test_probe_settings_reach_the_run_and_its_probe_set(tmp_path):
    from ftui.core import datasets, probes

    ws = make_workspace(tmp_path / "ws")
    write_default_corrections(ws)
    build = datasets.build(ws, ["wrong_symbol"], validation=0.3, heldout=0.3, anchor_ratio=1.0)
    run_dir = runs.create_run(ws, build, {"probes": 2, "select_by": "probes", "stop_broken_anchors": 1})
    cfg = runs.read_run_config(run_dir)
    assert (cfg["probes"], cfg["select_by"], cfg["stop_broken_anchors"]) == (2, "probes", 1)
    assert len(probes.read(run_dir)["items"]) == 2
    off = runs.create_run(ws, build, {"probes": 0})
    assert probes.read(off) is None
