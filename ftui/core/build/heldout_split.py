"""The held-out split: which examples train, which choose the checkpoint (validation) and which
judge the run (test), stratified and seeded, with examples that share code kept on one side."""

from __future__ import annotations

from collections import defaultdict

from ftui.core.build.plan import Example, normalise_ws
from ftui.core.logs.items import Item
from ftui.core.logs.seeded_order import largest_remainder, rank, round_half_up
from ftui.core.workspace.prompts import user_text
from ftui.core.workspace.workspace import Workspace

# A line this long (spaces not counted) is specific enough to say two snippets show the same code.
SHARED_LINE_MIN_CHARS = 24


def evidence_keys(item: Item) -> set[str]:
    """The evidence lines that tie an item to others: long, whitespace-normalised, no `# File:` headers."""
    keys = set()
    for line in (item.evidence_text or "").splitlines():
        norm = " ".join(line.split())
        if norm.startswith("# File:") or len(norm.replace(" ", "")) < SHARED_LINE_MIN_CHARS:
            continue
        keys.add(norm)
    return keys


def evidence_groups(examples: list[Example]) -> list[list[Example]]:
    """Examples joined (transitively) when their evidence shares a line: one group per connected set."""
    parent = list(range(len(examples)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_with: dict[str, int] = {}
    for i, ex in enumerate(examples):
        for key in evidence_keys(ex.item):
            j = first_with.setdefault(key, i)
            parent[find(i)] = find(j)
    groups: dict[int, list[Example]] = defaultdict(list)
    for i, ex in enumerate(examples):
        groups[find(i)].append(ex)
    return list(groups.values())


def split_heldout(
    examples: list[Example], heldout: float, seed: int, by_evidence: bool = False, salt: str = "split"
) -> tuple[list[Example], list[Example]]:
    """Stratified, seeded split; each stratum keeps at least one training example.

    With `by_evidence`, examples whose evidence shares code go to the same side, whole groups at a
    time, each group held out only while it fits every stratum's quota (so the held-out share can
    come out a little smaller): a held-out item then never has its snippet in training. Otherwise the comparison would measure recall of a seen snippet, and a correction
    trained on one question about a function would be measured against another question about it
    (a locate target `remove_stock` turning "which exception does `remove_stock` raise?" into an
    answer about `remove_stock`).
    """
    strata: dict[str, list[Example]] = defaultdict(list)
    for ex in examples:
        strata[ex.stratum].append(ex)
    total = round_half_up(heldout * len(examples)) if heldout > 0 else 0
    quotas = {k: heldout * len(v) for k, v in strata.items()}
    caps = {k: max(0, len(v) - 1) for k, v in strata.items()}
    alloc = largest_remainder(quotas, total, caps)
    if not by_evidence:
        train, held = [], []
        for key in sorted(strata):
            ordered = sorted(strata[key], key=lambda ex: rank(seed, salt, ex.item.id))
            k = alloc[key]
            held.extend(ordered[:k])
            train.extend(ordered[k:])
        return train, held
    groups = evidence_groups(examples)
    groups.sort(key=lambda g: min(rank(seed, salt, ex.item.id) for ex in g))
    room = dict(alloc)
    train, held = [], []
    for group in groups:
        need: dict[str, int] = defaultdict(int)
        for ex in group:
            need[ex.stratum] += 1
        fits = all(need[k] <= room[k] for k in need)
        if fits:
            for stratum, count in need.items():
                room[stratum] -= count
        (held if fits else train).extend(group)
    return train, held


def split_roles(
    examples: list[Example], heldout: float, validation: float, seed: int, by_evidence: bool = False
) -> tuple[list[Example], list[Example], list[Example]]:
    """(train, validation, test): test items judge the run, validation items choose its checkpoint.

    The test split is taken first, exactly as a two-way split would take it; validation then comes
    out of the training side (`validation` is a share of all examples), with the same stratification
    and evidence grouping, so no validation item shares a snippet with training either. The rule for
    small strata follows from the order: every stratum keeps at least one training item and test is
    filled before validation, so a stratum needs 3 items to reach all three roles (with 2 it gives
    one to training and, when its quota rounds up, one to test). A build with no validation item
    trains to max_steps and keeps its final weights: nothing it will be judged on chooses for it.
    """
    train, test = split_heldout(examples, heldout, seed, by_evidence=by_evidence)
    if validation <= 0 or not train:
        return train, [], test
    share = min(0.99, validation / max(1e-9, 1.0 - heldout))
    train, valid = split_heldout(train, share, seed, by_evidence=by_evidence, salt="validation")
    return train, valid, test


def keep_prompts_on_one_side(
    train: list[Example], held: list[Example], ws: Workspace
) -> tuple[list[Example], list[Example], list[str]]:
    """Two ids with the same prompt (a question logged twice) must not straddle the split, or the
    held-out loss measures memory: such held-out examples join their twin in training."""
    seen = {normalise_ws(user_text(ex.item, ws.prompt)) for ex in train}
    keep: list[Example] = []
    moved: list[Example] = []
    for ex in held:
        (moved if normalise_ws(user_text(ex.item, ws.prompt)) in seen else keep).append(ex)
    return train + moved, keep, [ex.item.id for ex in moved]


def preserve_rows(candidates: list[Example], held: list[Example]) -> tuple[list[Example], list[str]]:
    """The other clusters' failures, kept as they are: the trainer holds their answers to the base
    model's distribution (KL only, no cross-entropy: they are wrong answers, not targets). One whose
    evidence shares code with a held-out item is left out, so no held-out item has its snippet in
    training in any form."""
    held_keys = set().union(*(evidence_keys(ex.item) for ex in held)) if held else set()
    keep: list[Example] = []
    dropped: list[Example] = []
    for ex in candidates:
        (dropped if evidence_keys(ex.item) & held_keys else keep).append(ex)
    return keep, [ex.item.id for ex in dropped]
