"""Token lengths with the model's own tokenizer: statistics, a histogram and the examples cut by max length."""

from __future__ import annotations

from typing import Any

from ftui.core.build.checks.report import ERROR, WARNING, Ctx


def _histogram(counts: list[int], buckets: int = 10) -> list[dict[str, Any]]:
    lo, hi = min(counts), max(counts)
    width = max(1, -(-(hi - lo + 1) // buckets))
    out = []
    start = lo
    while start <= hi:
        end = start + width
        out.append({"lo": start, "hi": end - 1, "count": sum(start <= c < end for c in counts)})
        start = end
    return out


def token_stats(
    ctx: Ctx, rows: list[dict[str, Any]], good: list[int], tokenizer: Any, max_length: int
) -> tuple[dict[str, Any], dict[int, int]]:
    convs: list[list[dict[str, Any]]] = []
    owners: list[int] = []
    tools: list[Any] = []
    for i in good:
        row = rows[i]
        if "messages" in row:
            convs.append(row["messages"])
            owners.append(i)
        else:
            convs.append(list(row["prompt"]) + list(row["chosen"]))
            owners.append(i)
            convs.append(list(row["prompt"]) + list(row["rejected"]))
            owners.append(i)
        tools += [row.get("tools")] * (len(owners) - len(tools))
    per_row: dict[int, int] = {}
    try:
        # Tools are counted as the model's template renders them (or as the fallback writes them).
        counts = tokenizer.count_many(convs, tools) if any(tools) else tokenizer.count_many(convs)
    except Exception:
        # One conversation the template refuses (e.g. roles that do not alternate): find which.
        counts = []
        for conv, i in zip(convs, owners, strict=False):
            try:
                counts.append(tokenizer.count(conv, tools=tools[len(counts)]) if any(tools) else tokenizer.count(conv))
            except Exception as exc:
                counts.append(-1)
                if i not in ctx.bad:
                    ctx.add(
                        ERROR,
                        "template_error",
                        ctx.where(rows[i]),
                        f"the chat template refuses this example: {exc}",
                        rows[i].get("id"),
                    )
                    ctx.bad.add(i)
    for c, i in zip(counts, owners, strict=False):
        if c >= 0 and i not in ctx.bad:
            per_row[i] = max(per_row.get(i, 0), c)
    values = [per_row[i] for i in good if i in per_row]
    truncated = []
    for i in good:
        n = per_row.get(i)
        if n is not None and n > max_length:
            row = rows[i]
            truncated.append({"where": ctx.where(row), "id": row.get("id"), "tokens": n})
            ctx.add(
                WARNING,
                "truncated",
                ctx.where(row),
                f"{n:,} tokens > max length {max_length:,}: the last {n - max_length:,} would be cut",
                row.get("id"),
            )
    stats = {
        "count": len(values),
        "max_length": max_length,
        "truncated": truncated,
        "total": sum(values),
    }
    if values:
        srt = sorted(values)
        stats.update(
            min=srt[0],
            max=srt[-1],
            mean=sum(values) / len(values),
            p50=srt[len(srt) // 2],
            p95=srt[min(len(srt) - 1, int(0.95 * len(srt)))],
            histogram=_histogram(values),
        )
    return stats, per_row
