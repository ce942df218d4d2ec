"""train.anchor_kl on a DPO run: the build's anchors held to the base by a KL term added to TRL's DPO loss."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftui.engine.train.data import anchor_rows, load_datasets
from tests.fixtures.tiny_build import write_build


def _with_anchors_and_preserved(build):
    """Odd SFT training rows become anchors; one more row is a preserved failure (preserve.jsonl)."""
    path = build / "train.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    kept = dict(rows.pop(), kind="preserve")
    for i, row in enumerate(rows):
        if i % 2:
            row["kind"] = "anchor"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (build / "preserve.jsonl").write_text(json.dumps(kept) + "\n")
    return build


def test_a_dpo_build_carries_its_anchors_and_preserved_rows(tmp_path):
    build = _with_anchors_and_preserved(write_build(tmp_path / "builds", n_train=9, n_eval=2))
    anchors = anchor_rows(build)
    assert len(anchors) == 4 and all(r["anchor"] and not r["kl_only"] for r in anchors)
    assert anchors[0]["completion"][-1]["role"] == "assistant"
    with_preserved = anchor_rows(build, kl_rows=True)
    assert len(with_preserved) == 5 and with_preserved[-1]["kl_only"]
    # The DPO pairs themselves are unchanged: anchors have no rejected answer.
    dpo, _ = load_datasets(build, "dpo", kl_rows=True)
    assert len(dpo) == 9 and set(dpo.column_names) == {"prompt", "chosen", "rejected"}


def test_anchor_labels_cover_the_answer_only(tiny_model_dir):
    from transformers import AutoTokenizer

    from ftui.engine.train.dpo_loss import encode_anchor

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    row = {
        "prompt": [{"role": "user", "content": "Where is it?"}],
        "completion": [{"role": "assistant", "content": "In utils."}],
    }
    ids, labels = encode_anchor(tok, row, max_length=256)
    answer = [t for t, lab in zip(ids, labels, strict=True) if lab != -100]
    assert "In utils." in tok.decode(answer)
    assert "Where is it?" not in tok.decode(answer)
    # Truncation keeps ids and labels aligned.
    short_ids, short_labels = encode_anchor(tok, row, max_length=5)
    assert len(short_ids) == len(short_labels) == 5


def _trainer(tmp_path, tiny_model_dir, build, anchor_kl: float, max_steps: int = 6):
    import torch

    from ftui.core.workspace.settings import TrainConfig
    from ftui.engine.train.run import make_trainer
    from ftui.engine.weights.device import plan_device
    from ftui.engine.weights.models import load_model_and_tokenizer

    torch.manual_seed(0)
    train_ds, eval_ds = load_datasets(build, "dpo")
    cfg = {
        "method": "dpo",
        "max_steps": max_steps,
        "batch_size": 2,
        "max_length": 128,
        "lora_r": 8,
        "lora_alpha": 16,
        "lora_dropout": 0.0,  # deterministic forward passes: the loss can be recomputed exactly
        "learning_rate": 1e-2,
        "eval_steps": 100,
        "save_steps": 100,
        "anchor_kl": anchor_kl,
    }
    model, tok, _ = load_model_and_tokenizer(str(tiny_model_dir), "cpu")
    return make_trainer(
        TrainConfig.from_dict(cfg),
        plan_device("cpu"),
        model,
        tok,
        train_ds,
        eval_ds,
        tmp_path / f"ckpt-{anchor_kl}",
        build_dir=Path(build),
    )


def test_dpo_loss_adds_the_anchor_kl_zero_at_start_positive_later(tmp_path, tiny_model_dir):
    from trl import DPOTrainer

    build = _with_anchors_and_preserved(write_build(tmp_path / "builds", n_train=9, n_eval=2))
    trainer = _trainer(tmp_path, tiny_model_dir, build, anchor_kl=5.0)
    assert trainer.anchors is not None and len(trainer.anchors) == 5  # 4 anchors + the preserved row
    model = trainer.model.train()
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))

    def parts():
        total = float(trainer.compute_loss(model, batch))
        kl = trainer._metrics["train"]["anchor_kl"][-1]
        dpo = float(DPOTrainer.compute_loss(trainer, model, batch))
        return total, dpo, kl

    # Step 0: LoRA's B matrices start at zero, so the tuned model is the base and the KL vanishes.
    total, dpo, kl = parts()
    assert kl == pytest.approx(0.0, abs=1e-6) and total == pytest.approx(dpo, abs=1e-5)

    trainer.train()
    model = trainer.model.train()
    total, dpo, kl = parts()
    assert kl > 1e-4
    # The reported loss is TRL's DPO loss plus anchor_kl × KL.
    assert total == pytest.approx(dpo + 5.0 * kl, rel=1e-4)
    # It is logged as its own component, under the name the events use.
    logged = [h for h in trainer.state.log_history if "anchor_kl" in h and "loss" in h]
    assert logged and all(h["anchor_kl"] >= 0 for h in logged) and logged[-1]["anchor_kl"] > 0


def test_without_the_weight_dpo_is_plain(tmp_path, tiny_model_dir):
    build = _with_anchors_and_preserved(write_build(tmp_path / "builds", n_train=9, n_eval=2))
    trainer = _trainer(tmp_path, tiny_model_dir, build, anchor_kl=0.0, max_steps=2)
    assert trainer.anchors is None
    trainer.train()
    assert not any("anchor_kl" in h for h in trainer.state.log_history)


def test_the_anchor_order_resumes_where_it_stopped(tiny_model_dir):
    from transformers import AutoTokenizer

    from ftui.engine.train.dpo_loss import AnchorBatches

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    rows = [
        {"prompt": [{"role": "user", "content": f"q{i}"}], "completion": [{"role": "assistant", "content": f"a{i}"}]}
        for i in range(5)
    ]
    batches = AnchorBatches(rows, tok, max_length=64, batch_size=2, seed=0)
    seen = [tuple(map(tuple, batches.batch(i, "cpu")[0].tolist())) for i in range(5)]
    # The same index gives the same rows; five batches of two cover every anchor twice.
    assert seen[3] == tuple(map(tuple, batches.batch(3, "cpu")[0].tolist()))
    assert len({row for b in seen for row in b}) == 5
