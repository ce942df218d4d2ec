"""The SFT trainer: TRL's SFTTrainer with the loss ftui trains on.

Corrections are learned with the usual cross-entropy on the completion. Anchors (answers the base
model already gets right) can also be held to the base model itself: with `anchor_kl` > 0, each
anchor completion token adds KL(base || tuned) over the whole next-token distribution, the base
being the same model with the adapter switched off. Cross-entropy on an anchor only rewards the one
token the base picked; the KL term also penalises the adapter for moving probability mass onto
other tokens there, which is how a format fix leaks into prose (a JSON target full of `larder/`
paths making "larder" likelier everywhere).

Preserved rows (build.preserve: the other clusters' failures) get the KL term only: their answers
are wrong, so they are not targets, but the adapter should leave them as the base gives them.
"""

from __future__ import annotations

ANCHOR_COLUMN = "anchor"
KL_ONLY_COLUMN = "kl_only"


def anchored_kl(logits, ref_logits, labels, rows):
    """Mean KL(ref || tuned) over the completion tokens (labels != -100) of the chosen rows."""
    import torch.nn.functional as F

    # Position t predicts token t+1: the same shift the language-model loss uses.
    mask = labels[rows, 1:] != -100
    if not mask.any():
        return logits.new_zeros(())
    logp = F.log_softmax(logits[rows, :-1][mask].float(), dim=-1)
    ref_logp = F.log_softmax(ref_logits[:, :-1][mask].float(), dim=-1)
    return F.kl_div(logp, ref_logp, log_target=True, reduction="batchmean")


def with_anchor_flags(collate):
    """Wrap TRL's collator so each batch says which rows are anchors."""
    import torch

    def call(examples):
        out = collate(examples)
        out[ANCHOR_COLUMN] = torch.tensor([bool(ex.get(ANCHOR_COLUMN, False)) for ex in examples])
        out[KL_ONLY_COLUMN] = torch.tensor([bool(ex.get(KL_ONLY_COLUMN, False)) for ex in examples])
        return out

    return call


def sft_trainer_class(device: str):
    """TRL's SFTTrainer, with the anchor KL term and, on CPU, the model's own loss.

    TRL 1.16 computes the loss through a fused, chunked LM head that also yields entropy and top-1
    metrics every step. On a GPU that saves memory; on a CPU it re-runs the vocabulary projection
    (49k columns for SmolLM2) and made a step ~30% slower than the plain loss on the same batch.
    The labels are the same (-100 on the prompt), so the loss is the same. The KL term needs the
    logits, so it takes the plain path on every device.
    """
    import torch
    from transformers import Trainer
    from trl import SFTTrainer

    class AnchoredSFTTrainer(SFTTrainer):
        anchor_kl: float = 0.0

        def __init__(self, *args, anchor_kl: float = 0.0, **kwargs):
            super().__init__(*args, **kwargs)
            self.anchor_kl = float(anchor_kl)
            self.data_collator = with_anchor_flags(self.data_collator)

        def _set_signature_columns_if_needed(self):
            super()._set_signature_columns_if_needed()
            columns: list[str] = list(self._signature_columns or [])
            self._signature_columns = columns + [c for c in (ANCHOR_COLUMN, KL_ONLY_COLUMN) if c not in columns]  # type: ignore[assignment]  # transformers declares the attribute as None before it fills it

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            anchors = inputs.pop(ANCHOR_COLUMN, None)
            kl_only = inputs.pop(KL_ONLY_COLUMN, None)
            labels = inputs["labels"]
            if kl_only is not None and bool(kl_only.any()):
                only = kl_only.to(labels.device)  # these rows carry the anchor flag too: KL applies
                ce_labels = labels.clone()
                ce_labels[only] = -100
                if num_items_in_batch is not None:
                    # Exact with grad_accum 1; with more, other micro-batches' preserved tokens stay counted.
                    num_items_in_batch = max(1, int(num_items_in_batch) - int((labels[only] != -100).sum()))
                inputs = {**inputs, "labels": ce_labels}
            use_kl = self.anchor_kl > 0 and anchors is not None and bool(anchors.any())
            if device != "cpu" and not use_kl:
                return super().compute_loss(
                    model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
                )
            inputs = {k: v for k, v in inputs.items() if k != "completion_mask"}
            if bool((inputs["labels"] != -100).any()):
                loss, outputs = Trainer.compute_loss(
                    self, model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
                )
            else:  # a batch of preserved rows only: no cross-entropy at all, not a 0/0
                outputs = model(**{k: v for k, v in inputs.items() if k != "labels"})
                loss = outputs.logits.sum() * 0.0
            if use_kl:
                rows = anchors.to(inputs["input_ids"].device)
                ref_inputs = {k: v[rows] for k, v in inputs.items() if k in ("input_ids", "attention_mask")}
                with torch.no_grad(), self.accelerator.unwrap_model(model).disable_adapter():
                    ref_logits = model(**ref_inputs).logits
                kl = anchored_kl(outputs.logits, ref_logits, labels, rows)
                loss = loss + self.anchor_kl * kl
                mode = "train" if model.training else "eval"
                self._metrics[mode][ANCHOR_COLUMN + "_kl"].append(float(kl.detach()))
            return (loss, outputs) if return_outputs else loss

    return AnchoredSFTTrainer
