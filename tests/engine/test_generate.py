import pytest

from ftui.engine.infer import generate as G
from tests.fixtures.tiny_adapter import train_tiny_adapter

MSGS = [
    [
        {"role": "system", "content": "You are a code assistant."},
        {"role": "user", "content": "Where is validate_path defined?"},
    ],
    [{"role": "system", "content": "You are a code assistant."}, {"role": "user", "content": "Summarize the module."}],
    [
        {"role": "system", "content": "You are a code assistant."},
        {"role": "user", "content": "What does tests/test_security.py assert about escaping paths?"},
    ],
]
TARGET = '{"file_path": "utils/security.py", "symbol": "validate_path"}'


def test_batched_matches_one_at_a_time_and_keeps_order(tiny_model_dir):
    gen = G.load_for_generation(str(tiny_model_dir))
    batched = gen.generate(MSGS, adapter=False, max_new_tokens=12, batch_size=3)
    single = [gen.generate([m], adapter=False, max_new_tokens=12, batch_size=1)[0] for m in MSGS]
    assert batched == single
    assert len(batched) == 3 and all(isinstance(a, str) for a in batched)
    with pytest.raises(ValueError):
        gen.generate(MSGS, adapter=True)


def test_generate_answers_helper(tiny_model_dir):
    seen = []
    gen = G.load_for_generation(str(tiny_model_dir))
    out = gen.generate(MSGS, adapter=False, max_new_tokens=8, batch_size=2, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(2, 3), (3, 3)]
    assert G.generate_answers(str(tiny_model_dir), MSGS, max_new_tokens=8, batch_size=2) == out


def test_adapter_toggle_differs_from_base(tiny_model_dir, tmp_path):
    adapter = train_tiny_adapter(tiny_model_dir, tmp_path / "adapter", MSGS[0], TARGET)
    loads = G.LOADS
    gen = G.load_for_generation(str(tiny_model_dir), adapter)
    assert loads + 1 == G.LOADS
    base = gen.generate(MSGS, adapter=False, max_new_tokens=24)
    tuned = gen.generate(MSGS, adapter=True, max_new_tokens=24)
    # Adapter off must be the plain model, byte for byte.
    plain = G.generate_answers(str(tiny_model_dir), MSGS, max_new_tokens=24)
    assert base == plain
    # The tuned pass folds the adapter into the weights; it must be taken out again afterwards.
    assert gen.mergeable
    assert gen.generate(MSGS, adapter=False, max_new_tokens=24) == base
    assert tuned[0] != base[0]
    # The adapter learned the start of the one training answer; the random base did not.
    assert tuned[0].startswith(TARGET[:13]) and not base[0].startswith(TARGET[:13])
    assert G.generate_answers(str(tiny_model_dir), MSGS[:1], adapter=adapter, max_new_tokens=24) == tuned[:1]
