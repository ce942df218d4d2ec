"""SFT on tool-call targets: the tools reach the prompt as the template renders them (here by the
fallback, as the ChatML template has no tools), and the loss covers the call only."""

from __future__ import annotations

import json

from ftui.core.base import toolcalls
from ftui.core.build import builder
from ftui.core.curate.corrections import CorrectionStore
from ftui.core.logs.runlog import load_run_log
from ftui.engine.infer.toolrender import prompt_text, renders_tools
from ftui.engine.train.data import load_datasets
from tests.fixtures.toolcalls import workspace as agents_ws


def test_sft_on_a_tool_call_learns_only_the_call(tmp_path, tiny_model_dir):
    import torch

    from ftui.core.workspace.settings import TrainConfig
    from ftui.engine.train.run import make_trainer
    from ftui.engine.weights.device import plan_device
    from ftui.engine.weights.models import load_model_and_tokenizer

    ws = agents_ws.make(tmp_path / "ws", tools=agents_ws.TOOLS[:1], agent=False)
    log = load_run_log(ws)
    store = CorrectionStore(ws)
    for item in log.items:
        if item.label:
            store.save(item, json.dumps(agents_ws.weather(item.id.split("-")[1].capitalize()), indent=2))
    build = builder.build(ws)
    model, tok, _ = load_model_and_tokenizer(str(tiny_model_dir), "cpu")
    assert renders_tools(tok) is False
    train_ds, _ = load_datasets(build.dir, "sft", tok=tok)
    row = next(r for r in train_ds if "Paris" in r["prompt"][-1]["content"])
    assert row["prompt"][0]["content"].startswith(agents_ws.SYSTEM + "\n\n" + toolcalls.FALLBACK_INSTRUCTION)
    call = '{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}'
    assert row["completion"] == [{"role": "assistant", "content": call}]  # the edited call, canonical
    # Evaluation asks the same prompt the training rows hold.
    item = next(it for it in log.items if it.id == "w-paris")
    from ftui.core.workspace.prompts import messages_for, tools_of

    asked = prompt_text(tok, messages_for(item, ws.prompt), tools_of(item))
    assert asked == tok.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)

    cfg = {"method": "sft", "max_steps": 1, "batch_size": 2, "max_length": 1024, "lora_r": 4, "lora_alpha": 8}
    trainer = make_trainer(
        TrainConfig.from_dict(cfg), plan_device("cpu"), model, tok, train_ds, None, tmp_path / "ckpt"
    )
    i = next(i for i, r in enumerate(trainer.train_dataset) if r is not None)
    batch = trainer.data_collator([trainer.train_dataset[i]])
    labels, ids = batch["labels"][0], batch["input_ids"][0]
    kept = labels != -100
    assert torch.equal(labels[kept], ids[kept])
    learned = tok.decode(ids[kept])
    assert learned.startswith('{"name": "get_weather"') and learned.rstrip().endswith("<|im_end|>")
    assert "You can call the tools" not in learned and "Weather in" not in learned
