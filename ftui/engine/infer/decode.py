"""Greedy decoding with continuous batching, for evaluation.

`model.generate` on a padded batch has two costs that dominate a small-model evaluation on CPU:
a batch runs until its longest answer ends, and every prompt is padded to the longest prompt of
the batch for the prefill. Here every prompt is prefilled with the few prompts closest to it in
length, a row leaves the batch the moment it ends (EOS or the token limit), and a waiting prompt
takes its seat. On a CPU a decoding step is bound by reading the weights: for SmolLM2-135M it
took 74 ms for 1 row and 127 ms for 16, so keeping the batch full is what buys throughput.

Greedy answers are the ones `generate` gives: same chat prompt, same positions per row (a left
pad does not move them), argmax at every step, stop at the model's end-of-sequence ids.
"""

from __future__ import annotations

import functools
import inspect
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence

import torch

# A prefill group shares one padded forward pass: at most this many tokens (rows x longest), and
# at most this share of them padding. On CPU prefill is compute-bound, so padding is pure waste.
PREFILL_TOKENS = {"cpu": 2048, "cuda": 16384}
PREFILL_PAD_SHARE = 0.15
# Below this a shared prefix is not worth its extra forward pass.
MIN_SHARED_PREFIX = 16

Finished = Callable[[list[int], list[list[int]]], None]


def supports(model) -> bool:
    """Only plain (non-sliding) dynamic caches can be cut and re-padded the way this loop does."""
    try:
        from transformers.cache_utils import DynamicCache, DynamicLayer
    except ImportError:  # pragma: no cover - an older transformers
        return False
    try:
        cache = DynamicCache(config=model.config)
    except Exception:
        return False
    return bool(cache.layers) and all(type(layer) is DynamicLayer for layer in cache.layers)


def end_ids(model, tokenizer) -> set[int]:
    ids = getattr(model.generation_config, "eos_token_id", None)
    if ids is None:
        ids = tokenizer.eos_token_id
    if ids is None:
        return set()
    return {int(i) for i in ([ids] if isinstance(ids, int) else ids)}


def prefill_groups(lengths: Sequence[int] | Mapping[int, int], order: Iterable[int], budget: int) -> list[list[int]]:
    """Consecutive prompts (in `order`, shortest first) grouped while the group's padding stays small."""
    groups: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        trial = [*cur, i]
        longest = max(lengths[j] for j in trial)
        padded = longest * len(trial)
        waste = padded - sum(lengths[j] for j in trial)
        if cur and (padded > budget or waste > PREFILL_PAD_SHARE * padded):
            groups.append(cur)
            trial = [i]
        cur = trial
    if cur:
        groups.append(cur)
    return groups


class _Batch:
    """The rows being decoded: a shared left-padded KV cache, their masks, positions and tokens."""

    def __init__(self, cache, mask, pos, last, rows, out):
        self.cache = cache  # every layer [B, kv_heads, L, head_dim]
        self.mask = mask  # [B, L] 1 where the cache holds a real token
        self.pos = pos  # [B] position of the next token of each row
        self.last = last  # [B] the token to feed next
        self.rows = rows  # input index of each row
        self.out = out  # generated tokens of each row

    def __len__(self) -> int:
        return len(self.rows)


@functools.cache
def _room_layer_class():
    from transformers.cache_utils import DynamicLayer

    class RoomLayer(DynamicLayer):
        """A DynamicLayer stored with room to grow: a decoding step writes its token in place.

        DynamicLayer concatenates on every step, which copies the whole cache each time (13% of a
        16-row step on CPU for SmolLM2-135M).
        """

        def __init__(self, keys: torch.Tensor, values: torch.Tensor, room: int):
            super().__init__()
            b, h, n, d = keys.shape
            self._k = keys.new_empty((b, h, n + room, d))
            self._v = values.new_empty((b, h, n + room, values.shape[-1]))
            self._k[:, :, :n] = keys
            self._v[:, :, :n] = values
            self.n = n
            self.dtype, self.device = keys.dtype, keys.device
            self.is_initialized = True
            self._views()

        def _views(self) -> None:
            self.keys = self._k[:, :, : self.n]
            self.values = self._v[:, :, : self.n]

        def update(self, key_states, value_states, *args, **kwargs):
            m = key_states.shape[-2]
            if self.n + m > self._k.shape[2]:
                grow = max(m, self._k.shape[2])
                self._k = torch.cat([self._k, self._k.new_empty((*self._k.shape[:2], grow, self._k.shape[3]))], 2)
                self._v = torch.cat([self._v, self._v.new_empty((*self._v.shape[:2], grow, self._v.shape[3]))], 2)
            self._k[:, :, self.n : self.n + m] = key_states
            self._v[:, :, self.n : self.n + m] = value_states
            self.n += m
            self._views()
            return self.keys, self.values

    return RoomLayer


def _cache(layers: list[tuple[torch.Tensor, torch.Tensor]], room: int):
    from transformers.cache_utils import DynamicCache

    cls = _room_layer_class()
    cache = DynamicCache()
    cache.layers = [cls(k, v, room) for k, v in layers]
    return cache


def _pad_left(t: torch.Tensor, length: int, dim: int) -> torch.Tensor:
    extra = length - t.shape[dim]
    if extra <= 0:
        return t
    shape = list(t.shape)
    shape[dim] = extra
    return torch.cat([t.new_zeros(shape), t], dim=dim)


def _kv(cache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(layer.keys, layer.values) for layer in cache.layers]


def _merge(a: _Batch | None, b: _Batch, room: int) -> _Batch:
    """`b`'s rows seated beside `a`'s, in one cache with room for `room` more tokens (always a copy)."""
    if a is None or not len(a):
        b.cache = _cache(_kv(b.cache), room)
        return b
    length = max(a.mask.shape[1], b.mask.shape[1])
    layers = []
    for (ka, va), (kb, vb) in zip(_kv(a.cache), _kv(b.cache), strict=False):
        layers.append(
            (
                torch.cat([_pad_left(ka, length, 2), _pad_left(kb, length, 2)]),
                torch.cat([_pad_left(va, length, 2), _pad_left(vb, length, 2)]),
            )
        )
    return _Batch(
        _cache(layers, room),
        torch.cat([_pad_left(a.mask, length, 1), _pad_left(b.mask, length, 1)]),
        torch.cat([a.pos, b.pos]),
        torch.cat([a.last, b.last]),
        a.rows + b.rows,
        a.out + b.out,
    )


def _keep(batch: _Batch, keep: list[int], room: int) -> _Batch:
    """The rows at `keep`, with the cache columns that are padding for all of them cut off."""
    idx = torch.tensor(keep, device=batch.mask.device)
    mask = batch.mask.index_select(0, idx)
    # The first column any remaining row still uses; everything left of it is padding for all.
    first = int((mask.cumsum(1) == 0).sum(1).min())
    layers = [(k.index_select(0, idx)[:, :, first:], v.index_select(0, idx)[:, :, first:]) for k, v in _kv(batch.cache)]
    return _Batch(
        _cache(layers, room),
        mask[:, first:],
        batch.pos.index_select(0, idx),
        batch.last.index_select(0, idx),
        [batch.rows[i] for i in keep],
        [batch.out[i] for i in keep],
    )


def common_prefix(seqs: list[list[int]]) -> int:
    first = seqs[0]
    n = min(len(s) for s in seqs)
    for i in range(n):
        t = first[i]
        if any(s[i] != t for s in seqs):
            return i
    return n


class ContinuousDecoder:
    """Greedy answers for many tokenized prompts, `batch_size` rows decoded at a time."""

    def __init__(self, model, tokenizer, *, device: str, pad_id: int, temperature: float = 0.0, seed: int = 0):
        self.model = model
        # temperature > 0 samples instead of taking the argmax (re-asking an item to see whether a
        # pass holds); a seeded generator makes a sampled run repeatable.
        self.temperature = float(temperature)
        self._gen = torch.Generator(device="cpu").manual_seed(int(seed)) if self.temperature > 0 else None
        self.eos = end_ids(model, tokenizer)
        self.pad_id = pad_id
        self.device = model.device
        self.budget = PREFILL_TOKENS["cuda" if str(device).startswith("cuda") else "cpu"]
        params = inspect.signature(getattr(model, "get_base_model", lambda: model)().forward).parameters
        # Only the last position's logits are needed; computing all of them costs a vocabulary-wide matmul per token.
        self._keep_kw = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
        # The last shared prefix computed: (length, its tokens, its per-layer KV for one row). Few-shot
        # prompts share thousands of tokens, and prompts are seated a few at a time: without this,
        # every prefill group would compute them again.
        self._prefix: tuple[int, list[int], list] | None = None

    def _pick(self, logits: torch.Tensor) -> torch.Tensor:
        if self._gen is None:
            return logits.argmax(-1)
        probs = torch.softmax(logits.float().cpu() / self.temperature, dim=-1)
        return torch.multinomial(probs, 1, generator=self._gen)[:, 0].to(logits.device)

    def _forward(self, ids, mask, pos, cache):
        out = self.model(
            input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=cache, use_cache=True, **self._keep_kw
        )
        return out.logits[:, -1, :], out.past_key_values

    def _shared_prefix(self, seqs: list[list[int]]) -> tuple[int, list | None]:
        """How many leading tokens the group shares, and their KV when an earlier group computed them."""
        if self._prefix is not None:
            n, toks, kv = self._prefix
            if all(len(s) > n and s[:n] == toks for s in seqs):
                return n, kv
        shared = min(common_prefix(seqs), min(len(s) for s in seqs) - 1) if len(seqs) > 1 else 0
        return (shared if shared >= MIN_SHARED_PREFIX else 0), None

    def _prefill(self, prompts: list[list[int]], rows: list[int]) -> _Batch:
        """One forward pass for `rows`; a prefix they all share (the system turn) is computed once.

        The layout is [shared prefix][left padding][rest of the prompt]: positions follow the mask,
        so every token keeps the position it has in its own, unpadded prompt.
        """
        seqs = [prompts[r] for r in rows]
        shared, kv = self._shared_prefix(seqs)
        g = len(rows)
        cache = _cache([], 0)
        head_mask = torch.ones((g, shared), dtype=torch.long, device=self.device)
        if shared:
            if kv is None:
                ids = torch.tensor([seqs[0][:shared]], dtype=torch.long, device=self.device)
                _, pre = self._forward(ids, head_mask[:1], torch.arange(shared, device=self.device)[None], cache)
                kv = _kv(pre)
                self._prefix = (shared, seqs[0][:shared], kv)
            cache = _cache(
                [(k.expand(g, -1, -1, -1), v.expand(g, -1, -1, -1)) for k, v in kv],
                max(len(s) for s in seqs) - shared,
            )
        tails = [s[shared:] for s in seqs]
        length = max(len(t) for t in tails)
        ids = torch.full((g, length), self.pad_id, dtype=torch.long)
        tail_mask = torch.zeros((g, length), dtype=torch.long)
        for j, t in enumerate(tails):
            ids[j, length - len(t) :] = torch.tensor(t, dtype=torch.long)
            tail_mask[j, length - len(t) :] = 1
        mask = torch.cat([head_mask, tail_mask.to(self.device)], dim=1)
        pos = (mask.cumsum(1) - 1).clamp(min=0)[:, shared:]
        logits, cache = self._forward(ids.to(self.device), mask, pos, cache)
        first = self._pick(logits)
        # The cache as the forward pass left it: seating the rows in the batch (`_merge`) copies it once.
        return _Batch(cache, mask, pos[:, -1] + 1, first, list(rows), [[int(t)] for t in first.tolist()])

    def run(
        self,
        prompts: list[list[int]],
        *,
        max_new_tokens: int,
        batch_size: int,
        on_finished: Finished | None = None,
        order: list[int] | None = None,
    ) -> list[list[int]]:
        """Generated token ids per prompt (EOS included when reached), in input order.

        `order` is the order prompts are seated in (default: shortest first); prompts that share a
        prefix should be neighbours in it. `on_finished(rows, tokens)` is called as rows end, so a
        caller can persist answers before a long run ends (or dies).
        """
        max_new_tokens = max(1, int(max_new_tokens))
        batch_size = max(1, int(batch_size))
        lengths = [len(p) for p in prompts]
        if order is None:
            order = sorted(range(len(prompts)), key=lambda i: lengths[i])
        pending = deque(order)
        results: list[list[int] | None] = [None] * len(prompts)
        batch: _Batch | None = None
        # Re-padding the cache to seat new rows is a copy of it: seat them a few at a time, not one by one.
        admit_at = max(1, batch_size // 4)
        while pending or batch is not None:
            free = batch_size - (len(batch) if batch is not None else 0)
            if pending and (batch is None or free >= admit_at):
                take = [pending.popleft() for _ in range(min(free, len(pending)))]
                # A prefix every seated prompt shares (a system turn, few-shot examples) is computed
                # once per group: only the rest of each prompt counts against the prefill budget.
                shared = common_prefix([prompts[i] for i in take]) if len(take) > 1 else 0
                tails = {i: lengths[i] - shared for i in take} if shared >= MIN_SHARED_PREFIX else lengths
                for group in prefill_groups(tails, take, self.budget):
                    batch = _merge(batch, self._prefill(prompts, group), max_new_tokens)
            else:
                assert batch is not None  # the loop runs with nothing pending only while a batch is seated
                step = torch.ones((len(batch), 1), dtype=batch.mask.dtype, device=batch.mask.device)
                mask = torch.cat([batch.mask, step], dim=1)
                logits, cache = self._forward(batch.last[:, None], mask, batch.pos[:, None], batch.cache)
                nxt = self._pick(logits)
                batch.cache, batch.mask, batch.pos, batch.last = cache, mask, batch.pos + 1, nxt
                for j, t in enumerate(nxt.tolist()):
                    batch.out[j].append(int(t))
            assert batch is not None  # seated by the prefill or stepped above
            ended = {j for j, toks in enumerate(batch.out) if toks[-1] in self.eos or len(toks) >= max_new_tokens}
            if ended:
                rows = [batch.rows[j] for j in sorted(ended)]
                for j in ended:
                    results[batch.rows[j]] = batch.out[j]
                keep = [j for j in range(len(batch)) if j not in ended]
                batch = _keep(batch, keep, max_new_tokens) if keep else None
                if on_finished is not None:
                    on_finished(rows, [results[r] for r in rows])
        return [r or [] for r in results]
