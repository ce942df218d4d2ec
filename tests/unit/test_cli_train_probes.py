from ftui.core.base import events
from ftui.core.runs import runs
from ftui.core.runs.text import format_event
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
    from ftui.core.build import builder
    from ftui.core.runs import probes

    ws = make_workspace(tmp_path / "ws")
    write_default_corrections(ws)
    build = builder.build(ws, ["wrong_symbol"], validation=0.3, heldout=0.3, anchor_ratio=1.0)
    run_dir = runs.create_run(ws, build, {"probes": 2, "select_by": "probes", "stop_broken_anchors": 1})
    cfg = runs.read_run_config(run_dir)
    assert (cfg["probes"], cfg["select_by"], cfg["stop_broken_anchors"]) == (2, "probes", 1)
    assert len(probes.read(run_dir)["items"]) == 2
    off = runs.create_run(ws, build, {"probes": 0})
    assert probes.read(off) is None


def test_runs_list_shows_the_last_probe(tmp_path, capsys):
    from ftui.cli import main

    ws = make_workspace(tmp_path / "ws")
    run_dir = ws.state.runs / "r1"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text("{}")
    w = events.EventWriter(run_dir / "events.jsonl")
    w.emit("eval", step=4, eval_loss=1.0)
    w.emit("probe", step=4, cluster_passed=2, cluster_total=3, anchors_passed=4, anchors_total=4)
    w.emit("finished", step=4, adapter=str(run_dir / "adapter"))
    w.close()
    assert main(["runs", str(ws.root)]) == 0
    assert "probes @4: cluster 2/3, anchors 4/4" in capsys.readouterr().out
