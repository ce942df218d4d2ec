"""train.anchor_kl: anchors held to the base model by a KL term next to the corrections' cross-entropy."""

from __future__ import annotations

import json

import pytest

from ftui.engine.train.data import load_datasets
from tests.fixtures.tiny_build import write_build


def _with_anchors(build):
    """Every other training row becomes an anchor (kind "anchor"), as the dataset builder writes them."""
    for name in ("train.jsonl", "eval.jsonl"):
        path = build / name
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        for i, row in enumerate(rows):
            if i % 2:
                row["kind"] = "anchor"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return build


def test_kl_counts_only_completion_tokens_of_the_chosen_rows():
    import torch

    from ftui.engine.train.sft_loss import anchored_kl

    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7)
    labels = torch.tensor([[-100, -100, 3, 4, -100], [-100, 1, 2, 3, 4]])
    rows = torch.tensor([True, False])
    # The reference equals the tuned logits: no divergence at all.
    assert float(anchored_kl(logits, logits[rows], labels, rows)) == pytest.approx(0.0, abs=1e-6)
    # A reference that differs only where row 0 has no label (and on row 1) changes nothing.
    ref = logits[rows].clone()
    ref[0, 0] += 5.0
    ref[0, 3:] += torch.randn(2, 7)  # position 3 predicts token 4, which has label -100
    assert float(anchored_kl(logits, ref, labels, rows)) == pytest.approx(0.0, abs=1e-6)
    # Moving a counted position makes it positive, and it equals KL(ref || tuned) there, averaged.
    ref[0, 1] += torch.randn(7)
    got = float(anchored_kl(logits, ref, labels, rows))
    lp, rp = logits[0, 1:3].log_softmax(-1), ref[0, 1:3].log_softmax(-1)
    want = float((rp.exp() * (rp - lp)).sum(-1).mean())
    assert got > 0 and got == pytest.approx(want, rel=1e-5)
    # No anchor row in the batch: zero, not NaN.
    assert float(anchored_kl(logits, logits[:0], labels, torch.tensor([False, False]))) == 0.0


def _train(tmp_path, tiny_model_dir, build, anchor_kl: float):
    import torch

    from ftui.core.workspace.settings import TrainConfig
    from ftui.engine.train.run import make_trainer
    from ftui.engine.weights.device import plan_device
    from ftui.engine.weights.models import load_model_and_tokenizer

    torch.manual_seed(0)
    train_ds, eval_ds = load_datasets(build, "sft")
    cfg = {
        "method": "sft",
        "max_steps": 20,
        "batch_size": 4,
        "max_length": 128,
        "lora_r": 8,
        "lora_alpha": 16,
        "learning_rate": 1e-2,
        "eval_steps": 100,
        "save_steps": 100,
        "anchor_kl": anchor_kl,
    }
    model, tok, _ = load_model_and_tokenizer(str(tiny_model_dir), "cpu")
    trainer = make_trainer(
        TrainConfig.from_dict(cfg), plan_device("cpu"), model, tok, train_ds, eval_ds, tmp_path / f"ckpt-{anchor_kl}"
    )
    trainer.train()
    return trainer


def _anchor_drift(trainer) -> float:
    """KL(base || tuned) on the anchor answers of the training set, measured after training."""
    import torch

    from ftui.engine.train.sft_loss import ANCHOR_COLUMN, anchored_kl

    model = trainer.model.eval()
    rows = list(trainer.train_dataset)
    batch = trainer.data_collator(rows)
    anchors = batch.pop(ANCHOR_COLUMN)
    assert int(anchors.sum()) == sum(1 for r in rows if r[ANCHOR_COLUMN]) > 0
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask")}
    with torch.no_grad():
        tuned = model(**inputs).logits
        with model.disable_adapter():
            base = model(**{k: v[anchors] for k, v in inputs.items()}).logits
    return float(anchored_kl(tuned, base, batch["labels"], anchors))


def test_batches_say_which_rows_are_anchors(tmp_path, tiny_model_dir):
    from ftui.core.workspace.settings import TrainConfig
    from ftui.engine.train.run import make_trainer
    from ftui.engine.train.sft_loss import ANCHOR_COLUMN
    from ftui.engine.weights.device import plan_device
    from ftui.engine.weights.models import load_model_and_tokenizer

    build = _with_anchors(write_build(tmp_path / "builds", n_train=4, n_eval=2))
    train_ds, eval_ds = load_datasets(build, "sft")
    model, tok, _ = load_model_and_tokenizer(str(tiny_model_dir), "cpu")
    cfg = {"method": "sft", "max_steps": 1, "batch_size": 2, "max_length": 128, "lora_r": 4, "lora_alpha": 8}
    trainer = make_trainer(
        TrainConfig.from_dict(cfg), plan_device("cpu"), model, tok, train_ds, eval_ds, tmp_path / "ckpt"
    )
    rows = [trainer.train_dataset[i] for i in range(4)]
    batch = trainer.data_collator(rows)
    assert batch[ANCHOR_COLUMN].tolist() == [False, True, False, True]
    # The flag survives TRL's column pruning on the way to the training batches.
    first = next(iter(trainer.get_train_dataloader()))
    assert ANCHOR_COLUMN in first


def test_anchor_kl_keeps_anchor_answers_closer_to_the_base(tmp_path, tiny_model_dir):
    build = _with_anchors(write_build(tmp_path / "builds", n_train=12, n_eval=2))
    plain = _train(tmp_path, tiny_model_dir, build, anchor_kl=0.0)
    held = _train(tmp_path, tiny_model_dir, build, anchor_kl=20.0)
    drift_plain, drift_held = _anchor_drift(plain), _anchor_drift(held)
    # Measured: 0.0095 without the term, 0.0034 with it (the random base is near-uniform, so small).
    assert drift_plain > 0.003
    assert drift_held < 0.6 * drift_plain
    # The KL is reported in the trainer's logs (and from there in events.jsonl).
    assert any("anchor_kl" in h for h in held.state.log_history)
    assert not any("anchor_kl" in h for h in plain.state.log_history)


def _with_preserved(build):
    """Row 1 of the training split moves to preserve.jsonl, as the builder writes the other clusters' failures."""
    path = build / "train.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    kept = dict(rows.pop(1), kind="preserve")
    path.write_text("".join(json.dumps(r) + "\n" for r in [rows[0], *rows[1:]]))
    (build / "preserve.jsonl").write_text(json.dumps(kept) + "\n")
    return build, kept["id"]


def test_preserved_rows_join_training_only_with_the_kl_term(tmp_path):
    build, _kept = _with_preserved(write_build(tmp_path / "builds", n_train=4, n_eval=2))
    with_kl, _ = load_datasets(build, "sft", kl_rows=True)
    without, _ = load_datasets(build, "sft")
    assert len(with_kl) == 4 and len(without) == 3
    assert [r["kl_only"] for r in with_kl] == [False, False, False, True]
    assert [r["anchor"] for r in with_kl] == [False, False, False, True]
    assert not any(r["kl_only"] for r in without)
    # DPO never reads them.
    dpo, _ = load_datasets(build, "dpo", kl_rows=True)
    assert len(dpo) == 4 and "kl_only" not in dpo.column_names


def test_preserved_rows_add_only_the_kl_term(tmp_path, tiny_model_dir):
    import torch
    import torch.nn.functional as F

    from ftui.core.workspace.settings import TrainConfig
    from ftui.engine.train.run import make_trainer
    from ftui.engine.train.sft_loss import ANCHOR_COLUMN, KL_ONLY_COLUMN, anchored_kl
    from ftui.engine.weights.device import plan_device
    from ftui.engine.weights.models import load_model_and_tokenizer

    build, _ = _with_preserved(write_build(tmp_path / "builds", n_train=4, n_eval=2))
    train_ds, eval_ds = load_datasets(build, "sft", kl_rows=True)
    model, tok, _ = load_model_and_tokenizer(str(tiny_model_dir), "cpu")
    cfg = {
        "method": "sft",
        "max_steps": 1,
        "batch_size": 2,
        "max_length": 128,
        "lora_r": 4,
        "lora_alpha": 8,
        "anchor_kl": 3.0,
    }
    trainer = make_trainer(
        TrainConfig.from_dict(cfg), plan_device("cpu"), model, tok, train_ds, eval_ds, tmp_path / "ckpt"
    )
    peft_model = trainer.model.eval()
    torch.manual_seed(1)
    for name, p in peft_model.named_parameters():
        if "lora_B" in name:  # a trained-looking adapter, so tuned and base differ
            p.data.normal_(0, 0.05)
    rows = list(trainer.train_dataset)
    kl_row = next(r for r in rows if r[KL_ONLY_COLUMN])
    batch = trainer.data_collator([next(r for r in rows if not r[ANCHOR_COLUMN]), kl_row])
    assert batch[KL_ONLY_COLUMN].tolist() == [False, True]
    labels = batch["labels"].clone()
    with torch.no_grad():
        got = float(trainer.compute_loss(peft_model, dict(batch)))
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask")}
        logits = peft_model(**inputs).logits
        with peft_model.disable_adapter():
            ref = peft_model(**{k: v[1:] for k, v in inputs.items()}).logits
    # Cross-entropy on the correction row alone: the preserved row's answer is not a target.
    ce = F.cross_entropy(logits[0, :-1], labels[0, 1:], ignore_index=-100)
    kl = anchored_kl(logits, ref, labels, torch.tensor([False, True]))
    assert float(kl) > 1e-4
    assert got == pytest.approx(float(ce + 3.0 * kl), rel=1e-4)
    assert batch[ANCHOR_COLUMN].tolist() == [False, True]
