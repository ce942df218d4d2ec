"""The verdict: what a base-vs-fine-tuned report says to do, from the seed's decision table.

The table (ship / investigate / data quality / stop) is read only when the targeted cluster's
items settle the question; otherwise the verdict is "inconclusive", and the few-shot arm is
weighed: when examples in the prompt fix the cluster as well, fine-tuning was not needed.
"""

from __future__ import annotations

from typing import Any

from ftui.core.base.formatting import pts
from ftui.core.judge.paired_stats import ALPHA

SIGNIFICANCE = 0.05

# The seed's decision table: (cluster improved?, any regressions?) -> verdict.
VERDICTS: dict[tuple[bool, bool] | str, dict[str, Any]] = {
    (True, False): {
        "verdict": "ship",
        "headline": "Ship it: the cluster improved and nothing regressed.",
        "advice": [],
    },
    (True, True): {
        "verdict": "investigate",
        "headline": "Investigate the regressions before shipping: the cluster improved but some items broke.",
        "advice": [
            "Anchor more passing examples (raise build.anchor_ratio) so existing behaviour is kept.",
            "Hold the anchors to the base model (train.anchor_kl, e.g. 10; SFT and DPO), and with it the other "
            "clusters' failures (build.preserve).",
            "Lower the learning rate (train.learning_rate) or train fewer steps.",
        ],
    },
    (False, False): {
        "verdict": "data_quality",
        "headline": "Training data quality issue: the cluster did not improve (nothing regressed).",
        "advice": [
            "Review the corrections: are they consistent and genuinely correct?",
            "Add more corrected examples for the cluster.",
        ],
    },
    # Replaces the table whenever the cluster's 95% interval cannot settle the question (see `settles`).
    "inconclusive": {
        "verdict": "inconclusive",
        "headline": "Inconclusive: too few items of the cluster to tell whether it changed.",
        "advice": [],
    },
    # Joins the table when the prompt rung (few-shot corrections in context) fixes the cluster at
    # least as well as the fine-tune and breaks nothing.
    "not_needed": {
        "verdict": "not_needed",
        "headline": "Fine-tuning was not needed: few-shot examples in the prompt fix the cluster as well.",
        "advice": ["Ship the prompt change instead: it is cheaper to serve and to undo."],
    },
    (False, True): {
        "verdict": "stop",
        "headline": "Stop: the fine-tune made things worse.",
        "advice": [
            "Re-examine whether this is a model problem at all (prompt, retrieval, context first).",
        ],
    },
}


# A change the interval must rule out before "the cluster did not improve" is said: below it,
# a flat result on many items is a finding; above it, a flat result on a few items is not.
NO_GAIN = 0.10


def settles(x: dict[str, Any]) -> str:
    """What a slice's figures say about its change: "better" or "worse" (the 95% interval excludes
    zero and the mid-p McNemar test agrees), "flat" (the interval rules out a gain of NO_GAIN or
    more) or "unsettled" (too few items to say).

    Both the interval and the test are asked because at a handful of items they disagree: two
    fixed items of two give an interval above zero but a mid-p of 0.25.
    """
    if not x.get("total") or "ci" not in x:
        return "unsettled"
    lo, hi = x["ci"]
    significant = x.get("mid_p", 1.0) < ALPHA
    if lo > 0 and significant:
        return "better"
    if hi < 0 and significant:
        return "worse"
    if (x.get("change") or 0) <= 0 and hi < NO_GAIN:
        return "flat"
    return "unsettled"


def decide(
    targeted: dict[str, Any],
    items: list[dict[str, Any]],
    *,
    ignore_flaky: bool = False,
    fewshot: dict[str, Any] | None = None,
    forgetting: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The verdict from the seed's table, plus the ship gate on anchor-like regressions.

    The table is read only when the targeted cluster's 95% interval settles the question: a gain
    whose interval holds zero, or a flat result on too few items to rule out a real gain, is
    "inconclusive" whatever else happened. The few-shot arm is weighed too: when examples in the
    prompt fix the cluster at least as well, and that is settled, fine-tuning was not needed.

    A regression on a flaky item (a base pass that did not hold when re-asked) is always counted
    and shown; with `ignore_flaky` it neither blocks the gate nor makes the verdict "investigate".
    A general task whose score dropped by more than `eval.forgetting.max_drop` (the forgetting
    check) counts as a regression the benchmark could not see.
    """
    state = settles(targeted)
    improved = state == "better"
    regressed = [it["id"] for it in items if it["bucket"] == "regressed" and not (ignore_flaky and it.get("flaky"))]
    forgot = [r for r in (forgetting or {}).get("tasks", []) if r.get("flagged")]
    inconclusive = state == "unsettled"
    fewshot_gain = (
        fewshot is not None
        and fewshot_suffices(targeted, fewshot)
        and fewshot["targeted"]["tuned_passed"] > fewshot["targeted"]["base_passed"]
    )
    prompt_rung = fewshot_gain and (improved or settles(fewshot["targeted"]) == "better")  # type: ignore[index]
    key: tuple[bool, bool] | str = (
        "inconclusive" if inconclusive else (improved, bool(regressed) or bool(forgot) or state == "worse")
    )
    out = dict(VERDICTS["not_needed" if prompt_rung else key])
    out["advice"] = list(out["advice"])
    if forgot:
        drops = ", ".join(drop_text(r) for r in forgot)
        if key == (True, True) and not regressed:
            out["headline"] = (
                f"Investigate before shipping: the cluster improved, no benchmark regressions, but {drops}."
            )
        limit = (forgetting or {}).get("max_drop")
        out["advice"].insert(
            0,
            f"General tasks dropped beyond eval.forgetting.max_drop ({f'{100 * limit:.0f} pts' if limit is not None else '?'}): "
            f"{drops}. Lower the learning rate or the steps, or hold more to the base (train.anchor_kl).",
        )
    if forgetting is not None:
        out["forgetting_flagged"] = [r["task"] for r in forgot]
    if inconclusive and targeted["total"]:
        lo, hi = targeted["ci"]
        more = targeted.get("more_items_to_settle")
        out["advice"].append(
            f"The cluster's change is {pts(targeted['change'])} on {targeted['total']} item"
            f"{'s' if targeted['total'] != 1 else ''}, and its 95% interval ({pts(lo)} to {pts(hi)}) "
            "still holds zero."
        )
        out["advice"].append(
            f"At the observed rates about {more} more held-out item{'s' if more != 1 else ''} of the cluster "
            "would settle it."
            if more
            else "More held-out items of the cluster are needed; at the observed rates no practical number settles it."
        )
        if regressed:
            out["advice"].append(f"Also read the {len(regressed)} regression(s) before shipping.")
    if fewshot_gain and fewshot is not None:
        out["advice"].append(
            f"Few-shot prompting with {fewshot.get('k')} of the cluster's corrections passes "
            f"{fewshot['targeted']['tuned_passed']}/{fewshot['targeted']['total']} of the cluster "
            f"(fine-tuned: {targeted['tuned_passed']}/{targeted['total']}) and breaks nothing the base passed"
            + ("." if prompt_rung else "; try the prompt change before more training.")
        )
    out["improved"] = improved
    out["regressions"] = sum(it["bucket"] == "regressed" for it in items)
    out["flaky_regressions"] = sum(it["bucket"] == "regressed" and bool(it.get("flaky")) for it in items)
    out["ignores_flaky"] = ignore_flaky
    blocking = [it["id"] for it in items if it["bucket"] == "regressed" and it.get("was_anchor_like")]
    if ignore_flaky:
        blocking = [i for i in blocking if i in regressed]
    if blocking:
        gate = {
            "open": False,
            "blocking_ids": blocking,
            "reason": f"{len(blocking)} item(s) the base model passed now fail: {', '.join(blocking[:10])}",
        }
    else:
        gate = {"open": True, "blocking_ids": [], "reason": "no item the base model passed has regressed"}
    out["ship_gate"] = gate
    # The table and the gate agree today (a regression is by definition an item the base passed),
    # but "ship" is only ever the conjunction, so loosening one can never let a broken anchor through.
    out["ship"] = out["verdict"] == "ship" and gate["open"]
    if not targeted["total"]:
        out["advice"].insert(
            0,
            "No item of the targeted cluster is left in the benchmark: hold some out "
            "(build.heldout) or add a benchmark file, then evaluate again.",
        )
    elif improved and not inconclusive and targeted.get("mcnemar_p", 1.0) >= SIGNIFICANCE:
        out["advice"].append(
            f"The cluster's gain is not significant at {SIGNIFICANCE} (exact McNemar p={targeted['mcnemar_p']:.3g}); "
            "evaluate on more held-out items before trusting it."
        )
    return out


def fewshot_suffices(targeted: dict[str, Any], fewshot: dict[str, Any]) -> bool:
    """Few-shot prompting fixes the targeted cluster at least as well as the fine-tune, and no item
    the base passed fails with the examples in the prompt."""
    ft = fewshot.get("targeted") or {}
    return bool(ft.get("total")) and ft["tuned_passed"] >= targeted["tuned_passed"] and not fewshot.get("regressions")


def drop_text(row: dict[str, Any]) -> str:
    """`arith −4.0 pts (95% CI −9.1 to +1.2)`: one flagged task for a headline or advice line."""
    text = f"{row['task']} {pts(row['change'])}"
    if row.get("ci"):
        text += f" (95% CI {pts(row['ci'][0])} to {pts(row['ci'][1])})"
    return text
