"""`python -m ftui.engine embed JOB_DIR`: one vector per text from the workspace's own model.

The job folder holds `job.json` ({"model", "max_tokens", "batch_size"}) and `texts.jsonl`
({"key", "text"} a line); the child writes `vectors.npy` (float32, one L2-normalised row per
text, in order) and then `done.json`. The vector is the mean of the last hidden layer over the
text's tokens: how the model itself reads the failure.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(job_dir: str | Path) -> int:
    import numpy as np
    import torch

    from ftui.engine.weights.device import apply_cpu_speedups
    from ftui.engine.weights.models import load_model_and_tokenizer

    job_dir = Path(job_dir)
    job = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
    texts = [json.loads(line)["text"] for line in (job_dir / "texts.jsonl").read_text(encoding="utf-8").splitlines()]
    apply_cpu_speedups()
    model, tok, _ = load_model_and_tokenizer(job["model"], device="cpu")
    model.eval()
    tok.padding_side = "right"
    out = []
    bs = int(job.get("batch_size") or 16)
    with torch.inference_mode():
        for start in range(0, len(texts), bs):
            batch = tok(
                texts[start : start + bs],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=int(job.get("max_tokens") or 256),
            )
            hidden = model(**batch, output_hidden_states=True).hidden_states[-1]
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            out.append(torch.nn.functional.normalize(pooled.float(), dim=-1).numpy())
            print(f"embedded {min(start + bs, len(texts))}/{len(texts)}", file=sys.stderr, flush=True)
    vectors = np.concatenate(out) if out else np.zeros((0, 1), "float32")
    np.save(job_dir / "vectors.npy", vectors.astype("float32"))
    (job_dir / "done.json").write_text(json.dumps({"n": len(texts), "dim": int(vectors.shape[1])}), encoding="utf-8")
    return 0
