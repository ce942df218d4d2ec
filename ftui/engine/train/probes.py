"""The probe pass inside the training child: the probe set answered by the model being trained.

The model is the trainer's PEFT model with its adapter active and unmerged (merging would round
the base weights it keeps training on); dropout is off for the pass and training mode comes back
afterwards. Answers are greedy, as in the evaluation, so a probe's pass is the comparison's pass.
"""

from __future__ import annotations

import copy
import time

from ftui.core.runs import probes as core_probes


class ProbeRunner:
    def __init__(self, probe_set: dict, tokenizer, device: str):
        self.items = list(probe_set["items"])
        self.max_new_tokens = int(probe_set.get("max_new_tokens") or 128)
        self.batch_size = int(probe_set.get("batch_size") or 16)
        # The generation fallback pads on the left; the trainer's tokenizer keeps its own side.
        self.tokenizer = copy.copy(tokenizer)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.device = device

    def __len__(self) -> int:
        return len(self.items)

    def answers(self, model) -> list[str]:
        from ftui.engine.infer.generate import Generator

        was_training = model.training
        model.eval()
        try:
            gen = Generator(model, self.tokenizer, model_name="", adapter=None, device=self.device)
            return gen.generate(
                [it["messages"] for it in self.items],
                adapter=False,
                max_new_tokens=self.max_new_tokens,
                batch_size=self.batch_size,
            )
        finally:
            if was_training:
                model.train()

    def run(self, model) -> dict:
        """The `probe` event's fields for the model as it is now."""
        t0 = time.monotonic()
        answers = self.answers(model)
        out = core_probes.grade_answers(self.items, answers)
        out["seconds"] = round(time.monotonic() - t0, 2)
        return out
