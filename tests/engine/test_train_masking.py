"""Loss only on the assistant's tokens: the prompt (system + user + assistant header) gets label -100."""

from __future__ import annotations

from ftui.engine.train.data import load_datasets
from tests.fixtures.tiny_build import write_build


def test_sft_labels_cover_only_the_assistant_answer(tmp_path, tiny_model_dir):
    import torch

    from ftui.core.workspace.settings import TrainConfig
    from ftui.engine.train.run import make_trainer
    from ftui.engine.weights.device import plan_device
    from ftui.engine.weights.models import load_model_and_tokenizer

    build = write_build(tmp_path / "builds", n_train=4, n_eval=2)
    train_ds, eval_ds = load_datasets(build, "sft")
    row = train_ds[0]
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    assert [m["role"] for m in row["completion"]] == ["assistant"]
    answer = row["completion"][0]["content"]

    cfg = {"method": "sft", "max_steps": 1, "batch_size": 2, "max_length": 256, "lora_r": 4, "lora_alpha": 8}
    plan = plan_device("cpu")
    model, tok, _ = load_model_and_tokenizer(str(tiny_model_dir), "cpu")
    trainer = make_trainer(TrainConfig.from_dict(cfg), plan, model, tok, train_ds, eval_ds, tmp_path / "ckpt")
    assert trainer.args.bf16 is False and trainer.args.activation_checkpointing is False
    batch = trainer.data_collator([trainer.train_dataset[0], trainer.train_dataset[1]])
    labels, ids = batch["labels"][0], batch["input_ids"][0]
    kept = labels != -100
    assert 0 < int(kept.sum()) < int(batch["attention_mask"][0].sum())
    assert torch.equal(labels[kept], ids[kept])
    learned = tok.decode(ids[kept])
    # Exactly the answer and the end-of-turn token: nothing from the system or user message.
    assert learned.startswith(answer) and "<|im_end|>" in learned
    assert "Question" not in learned and "code assistant" not in learned
    prompt_text = tok.decode(ids[~kept & (batch["attention_mask"][0] == 1)])
    assert "Question" in prompt_text and prompt_text.rstrip().endswith("assistant")
