"""What judges a run never chose it: the items the comparison grades were not in the eval loss,
the probes or the checkpoint choice."""

from __future__ import annotations

from ftui.core.base.fsutil import read_jsonl
from ftui.core.build import builder
from ftui.core.build.files import eval_file
from ftui.core.judge import evalrun
from ftui.core.runs import probes, runs
from tests.fixtures.datasets.workspace import make_workspace, write_default_corrections


def test_no_graded_item_was_seen_by_eval_loss_probes_or_checkpoint_choice(tmp_path):
    ws = make_workspace(tmp_path / "ws")
    write_default_corrections(ws)
    build = builder.build(ws, ["wrong_symbol"], validation=0.3, heldout=0.3, anchor_ratio=1.0)
    m = build.manifest
    assert m["validation_ids"] and m["eval_ids"]
    run_dir = runs.create_run(ws, build, {"probes": 16})
    (run_dir / "adapter").mkdir()
    (run_dir / "adapter" / "adapter_config.json").write_text("{}")

    # What selection sees: the file the trainer evaluates on (eval loss, early stopping, the best
    # checkpoint, for SFT and DPO alike) and the probe set.
    selection = set()
    for method in ("sft", "dpo"):
        selection |= {r["id"] for r in read_jsonl(eval_file(build.dir, method))}
    probe_set = probes.read(run_dir)
    assert probe_set is not None
    probe_ids = {it["id"] for it in probe_set["items"]}
    assert probe_ids and probe_ids <= set(m["validation_ids"])
    assert {it["role"] for it in probe_set["items"]} == {"cluster", "anchor"}
    selection |= probe_ids
    assert selection == set(m["validation_ids"])

    plan = evalrun.plan_eval(ws, run_dir)
    graded = {it["id"] for it in plan.items}
    assert not graded & selection
    assert not graded & set(m["train_ids"])
    # The held-out items are graded, and the plan says which items played which role.
    assert set(m["eval_ids"]) <= graded
    roles = plan.config["roles"]
    assert roles["selection"] == "validation" and roles["graded_and_selected"] == []
    assert set(roles["validation_ids"]) == selection and set(roles["test_ids"]) == set(m["eval_ids"])


def test_a_build_without_validation_gets_no_probes(tmp_path):
    ws = make_workspace(tmp_path / "ws")
    write_default_corrections(ws)
    build = builder.build(ws, validation=0)
    run_dir = runs.create_run(ws, build)
    assert probes.read(run_dir) is None


def test_a_dpo_run_holding_anchors_never_grades_what_its_kl_term_saw(tmp_path):
    from ftui.engine.train.data import anchor_rows

    ws = make_workspace(tmp_path / "ws")
    write_default_corrections(ws)
    build = builder.build(ws, ["wrong_symbol"], validation=0.3, heldout=0.3, anchor_ratio=1.0, preserve=True)
    run_dir = runs.create_run(ws, build, {"method": "dpo", "anchor_kl": 10.0, "probes": 16})
    (run_dir / "adapter").mkdir()
    (run_dir / "adapter" / "adapter_config.json").write_text("{}")
    held_to_base = {r["id"] for r in anchor_rows(build.dir, kl_rows=evalrun.preserves(runs.read_state(run_dir).config))}
    assert held_to_base & set(build.manifest["anchor_ids"])
    assert held_to_base & set(build.manifest["preserve_ids"])
    graded = {it["id"] for it in evalrun.plan_eval(ws, run_dir).items}
    assert graded and not graded & held_to_base
