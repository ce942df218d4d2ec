"""The continuous-batching decoder gives `model.generate`'s greedy tokens, prompt by prompt."""

import pytest

torch = pytest.importorskip("torch")

from ftui.engine.infer import decode as D  # noqa: E402

SYSTEMS = [
    "You are a code assistant. Answer in JSON with file_path and symbol, and nothing else.",
    "You are a code assistant. Explain the function using the tests in the evidence.",
]
QUESTIONS = [
    "Where is validate_path defined?",
    "Summarize the module.",
    "What does tests/test_security.py assert about escaping paths? Say it in one sentence.",
    "Where is the function defined? Evidence: def validate_path(p): return p",
    "It loads the config, parses arguments and starts the server. Which function starts it?",
]


@pytest.fixture(scope="module")
def loaded(tiny_model_dir):
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    # Weights large enough that every prompt gets its own answer: with the fixture model's small
    # init every prompt decodes the same token, and a wrong position or mask would go unseen.
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        initializer_range=0.2,
        tie_word_embeddings=False,
        eos_token_id=None,
        bos_token_id=None,
        pad_token_id=tok.pad_token_id,
    )
    model = LlamaForCausalLM(config).eval()
    model.generation_config.eos_token_id = None
    prompts = []
    for s in SYSTEMS:
        for q in QUESTIONS:
            text = tok.apply_chat_template(
                [{"role": "system", "content": s}, {"role": "user", "content": q}],
                tokenize=False,
                add_generation_prompt=True,
            )
            prompts.append(tok(text, add_special_tokens=False)["input_ids"])
    return model, tok, prompts


def reference(model, tok, prompt, max_new_tokens, eos=None):
    """One unpadded prompt through `generate`: the answer every batching must reproduce."""
    ids = torch.tensor([prompt])
    with torch.inference_mode():
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            eos_token_id=eos,
            pad_token_id=tok.pad_token_id,
        )
    toks = out[0, len(prompt) :].tolist()
    return toks[: toks.index(eos) + 1] if eos in toks else toks


def end_token(model, tok, prompts, n):
    """A token some answers contain and others do not, so rows end at different steps."""
    answers = [reference(model, tok, p, n) for p in prompts]
    counts = {t: sum(t in a for a in answers) for a in answers for t in a}
    return max((c, t) for t, c in counts.items() if c < len(prompts))[1]


def test_supports_plain_llama(loaded):
    model, _, _ = loaded
    assert D.supports(model)


@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_tokens_equal_one_prompt_at_a_time(loaded, batch_size):
    model, tok, prompts = loaded
    eos = end_token(model, tok, prompts, 12)
    dec = D.ContinuousDecoder(model, tok, device="cpu", pad_id=tok.pad_token_id)
    dec.eos = {eos}
    seen: list[int] = []
    with torch.inference_mode():
        got = dec.run(
            prompts, max_new_tokens=12, batch_size=batch_size, on_finished=lambda rows, toks: seen.extend(rows)
        )
    want = [reference(model, tok, p, 12, eos) for p in prompts]
    assert got == want
    assert sorted(seen) == list(range(len(prompts)))  # every row reported once
    lengths = {len(t) for t in got}
    assert min(lengths) < 12 and max(lengths) == 12  # some rows ended early, some ran to the limit


def test_shared_system_prompt_is_computed_once(loaded):
    model, tok, prompts = loaded
    dec = D.ContinuousDecoder(model, tok, device="cpu", pad_id=tok.pad_token_id)
    shapes = []
    real = dec._forward

    def spy(ids, *args):
        shapes.append(tuple(ids.shape))
        return real(ids, *args)

    dec._forward = spy
    dec.eos = set()
    same_system = prompts[: len(QUESTIONS)]
    with torch.inference_mode():
        got = dec.run(same_system, max_new_tokens=6, batch_size=8)
    assert got == [reference(model, tok, p, 6) for p in same_system]
    assert len({tuple(t) for t in got}) == len(same_system)
    shared = D.common_prefix(same_system)
    assert shared >= D.MIN_SHARED_PREFIX
    # One row carrying the shared prefix, then the rest of each prompt; no prompt prefilled whole.
    assert (1, shared) in shapes
    assert not any(n > 1 and w >= max(map(len, same_system)) for n, w in shapes)


def test_a_long_shared_prefix_is_computed_once_across_seatings(loaded):
    """Few-shot prompts seated two at a time: the shared examples are computed once for all of them."""
    model, tok, prompts = loaded
    examples = [t for p in prompts[:4] for t in p]  # a long prefix every prompt starts with
    long_prompts = [examples + p for p in prompts[len(QUESTIONS) :]]
    dec = D.ContinuousDecoder(model, tok, device="cpu", pad_id=tok.pad_token_id)
    shapes = []
    real = dec._forward

    def spy(ids, *args):
        shapes.append(tuple(ids.shape))
        return real(ids, *args)

    dec._forward = spy
    dec.eos = set()
    with torch.inference_mode():
        got = dec.run(long_prompts, max_new_tokens=4, batch_size=2)
    assert got == [reference(model, tok, p, 4) for p in long_prompts]
    shared = D.common_prefix(long_prompts)
    assert shared >= len(examples)
    assert shapes.count((1, shared)) == 1
    assert not any(w >= len(examples) for n, w in shapes if (n, w) != (1, shared))


def test_prefill_groups_limit_padding_and_size():
    lengths = [10, 11, 12, 40, 41, 100]
    groups = D.prefill_groups(lengths, range(6), budget=90)
    assert groups == [[0, 1, 2], [3, 4], [5]]
    assert [i for g in groups for i in g] == list(range(6))
    assert D.prefill_groups([5] * 10, range(10), budget=20) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_common_prefix():
    assert D.common_prefix([[1, 2, 3], [1, 2, 4], [1, 2]]) == 2
    assert D.common_prefix([[7], [8]]) == 0
