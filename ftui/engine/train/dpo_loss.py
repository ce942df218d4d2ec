"""The DPO trainer: TRL's DPOTrainer with the anchor KL that SFT runs have.

A DPO pair only says the chosen answer beats the rejected one; nothing in it holds the answers the
base already gets right, and the reference model in the DPO loss only restrains the pairs' own
tokens. With `anchor_kl` > 0 each training step also takes a batch of the build's anchors (and its
preserved rows, with build.preserve), and adds anchor_kl × KL(base || tuned) over their answer
tokens, the base being the same model with the adapter switched off: the guard SFT runs get from
`sft_loss`, computed by the same function. TRL's own loss (sigmoid, and the NLL term of
rpo_alpha) is left as it is; the KL is added to it and logged as `anchor_kl`.
"""

from __future__ import annotations

import random

from ftui.engine.train.sft_loss import ANCHOR_COLUMN, anchored_kl


class AnchorBatches:
    """The anchors tokenized once, handed out a batch per call in a seeded order that cycles."""

    def __init__(self, rows: list[dict], tokenizer, max_length: int, batch_size: int, seed: int = 0):
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.examples = [encode_anchor(tokenizer, row, max_length) for row in rows]
        self.examples = [ex for ex in self.examples if any(lab != -100 for lab in ex[1])]
        self.batch_size = max(1, int(batch_size))
        self.seed = seed

    def __len__(self) -> int:
        return len(self.examples)

    def _order(self, k: int) -> int:
        # Every anchor once per pass, each pass in its own seeded order.
        epoch, pos = divmod(k, len(self.examples))
        order = list(range(len(self.examples)))
        random.Random(f"{self.seed}:anchors:{epoch}").shuffle(order)
        return order[pos]

    def batch(self, index: int, device):
        """Batch number `index` (the same index gives the same rows, so a resumed run continues the order)."""
        import torch

        picked = [self.examples[self._order(k)] for k in range(index * self.batch_size, (index + 1) * self.batch_size)]
        width = max(len(ids) for ids, _ in picked)
        ids = torch.full((len(picked), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(picked), width), -100, dtype=torch.long)
        mask = torch.zeros((len(picked), width), dtype=torch.long)
        for i, (row_ids, row_labels) in enumerate(picked):
            ids[i, : len(row_ids)] = torch.tensor(row_ids)
            labels[i, : len(row_labels)] = torch.tensor(row_labels)
            mask[i, : len(row_ids)] = 1
        return ids.to(device), mask.to(device), labels.to(device)


def encode_anchor(tokenizer, row: dict, max_length: int) -> tuple[list[int], list[int]]:
    """(input ids, labels) of one prompt/completion row: labels -100 on the prompt, as SFT masks it."""
    prompt = tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
    if not full.startswith(prompt):
        raise ValueError("the chat template renders an anchor's prompt differently inside the whole conversation")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(full[len(prompt) :], add_special_tokens=False)["input_ids"]
    ids = (prompt_ids + answer_ids)[:max_length]
    labels = ([-100] * len(prompt_ids) + answer_ids)[:max_length]
    return ids, labels


def dpo_trainer_class():
    """TRL's DPOTrainer with `anchor_kl` × KL(base || tuned) on a batch of anchors added to each training step."""
    import torch
    from trl import DPOTrainer

    class AnchoredDPOTrainer(DPOTrainer):
        def __init__(self, *args, anchor_kl: float = 0.0, anchors: AnchorBatches | None = None, **kwargs):
            super().__init__(*args, **kwargs)
            self.anchor_kl = float(anchor_kl)
            self.anchors = anchors if anchors is not None and len(anchors) else None
            self._anchor_call: int | None = None

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            out = super().compute_loss(
                model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
            )
            # Training steps only: the eval loss stays TRL's DPO loss, comparable across anchor_kl settings.
            if self.anchor_kl <= 0 or self.anchors is None or not model.training:
                return out
            loss = out[0] if return_outputs else out
            kl = self.anchor_divergence(model)
            loss = loss + self.anchor_kl * kl
            self._metrics["train"][ANCHOR_COLUMN + "_kl"].append(float(kl.detach()))
            return (loss, out[1]) if return_outputs else loss

        def anchor_divergence(self, model):
            """KL(base || tuned) over the answer tokens of the next batch of anchors."""
            if self._anchor_call is None:  # a resumed run carries on the anchors' order where it stopped
                self._anchor_call = self.state.global_step * self.args.gradient_accumulation_steps
            assert self.anchors is not None
            ids, mask, labels = self.anchors.batch(self._anchor_call, self.accelerator.device)
            self._anchor_call += 1
            logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
            with torch.no_grad(), self.accelerator.unwrap_model(model).disable_adapter():
                ref_logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
            rows = torch.ones(ids.shape[0], dtype=torch.bool, device=ids.device)
            return anchored_kl(logits, ref_logits, labels, rows)

    return AnchoredDPOTrainer
