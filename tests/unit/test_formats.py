from __future__ import annotations

import json

import pytest

from ftui.core.build import formats

SYS = {"role": "system", "content": "You are a code assistant."}

SFT_ROWS = [
    {
        "id": "a1",
        "messages": [
            SYS,
            {"role": "user", "content": "Evidence:\ndef f(): pass\n\nQuestion: where is f?"},
            {"role": "assistant", "content": '{"file_path": "a.py", "symbol": "f"}'},
        ],
    },
    # No system message, unicode, and a two-turn conversation (alpaca history, sharegpt turns).
    {
        "id": "a2",
        "messages": [
            {"role": "user", "content": "Bonjour — où est g ?"},
            {"role": "assistant", "content": "Dans b.py."},
            {"role": "user", "content": "Et h\u00a0?"},
            {"role": "assistant", "content": "c.py\nligne 3"},
        ],
    },
]
PREF_ROWS = [
    {
        "id": "p1",
        "prompt": [SYS, {"role": "user", "content": "Where is f?"}],
        "chosen": [{"role": "assistant", "content": "a.py"}],
        "rejected": [{"role": "assistant", "content": "z.py"}],
    },
    {
        "id": "p2",
        "prompt": [{"role": "user", "content": "Explain g."}],
        "chosen": [{"role": "assistant", "content": "g adds.\n\nIt is pure."}],
        "rejected": [{"role": "assistant", "content": "g sorts."}],
    },
]

SFT_FORMATS = [f for f, (k, _) in formats.FORMATS.items() if k == formats.SFT]
PREF_FORMATS = [f for f, (k, _) in formats.FORMATS.items() if k == formats.PREFERENCE]


def _content(rows, keys):
    return [{k: [(m["role"], m["content"]) for m in r[k]] for k in keys} for r in rows]


@pytest.mark.parametrize("fmt", SFT_FORMATS)
@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_sft_round_trip_keeps_content(tmp_path, fmt, suffix):
    path = tmp_path / f"data{suffix}"
    formats.write(SFT_ROWS, path, fmt)
    res = formats.read(path)  # detected
    assert res.problems == []
    expected = {"openai-chat": "openai-chat", "trl-messages": "trl-messages"}.get(fmt, fmt)
    assert res.format == expected
    assert _content(res.rows, ["messages"]) == _content(SFT_ROWS, ["messages"])
    explicit = formats.read(path, fmt)
    assert _content(explicit.rows, ["messages"]) == _content(SFT_ROWS, ["messages"])
    if fmt in ("trl-messages", "trl-prompt-completion"):
        assert [r["id"] for r in res.rows] == ["a1", "a2"]  # ids survive where the format allows keys


@pytest.mark.parametrize("fmt", PREF_FORMATS)
def test_preference_round_trip_keeps_content(tmp_path, fmt):
    path = tmp_path / "pairs.jsonl"
    formats.write(PREF_ROWS, path, fmt)
    res = formats.read(path)
    assert res.format == fmt and res.kind == formats.PREFERENCE and res.problems == []
    assert _content(res.rows, ["prompt", "chosen", "rejected"]) == _content(PREF_ROWS, ["prompt", "chosen", "rejected"])


def test_openai_layouts_are_exactly_the_documented_ones(tmp_path):
    formats.write(SFT_ROWS[:1], tmp_path / "c.jsonl", "openai-chat")
    row = json.loads((tmp_path / "c.jsonl").read_text())
    assert list(row) == ["messages"]  # no extra keys: the API rejects them
    formats.write(PREF_ROWS[:1], tmp_path / "p.jsonl", "openai-preference")
    row = json.loads((tmp_path / "p.jsonl").read_text())
    assert row == {
        "input": {"messages": [SYS, {"role": "user", "content": "Where is f?"}]},
        "preferred_output": [{"role": "assistant", "content": "a.py"}],
        "non_preferred_output": [{"role": "assistant", "content": "z.py"}],
    }


def test_llama_factory_layouts_and_dataset_info(tmp_path):
    (tmp_path / "dataset_info.json").write_text(json.dumps({"other": {"file_name": "other.json"}}))
    formats.write(SFT_ROWS, tmp_path / "fix_alpaca.json", "alpaca")
    formats.write(SFT_ROWS, tmp_path / "fix_sharegpt.json", "sharegpt")
    formats.write(PREF_ROWS, tmp_path / "fix_dpo.json", "sharegpt-preference")
    formats.write(PREF_ROWS, tmp_path / "fix_dpo_alpaca.json", "alpaca-preference")
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert set(info) == {"other", "fix_alpaca", "fix_sharegpt", "fix_dpo", "fix_dpo_alpaca"}
    assert info["fix_alpaca"]["file_name"] == "fix_alpaca.json"
    assert info["fix_alpaca"]["columns"]["prompt"] == "instruction"
    assert info["fix_sharegpt"]["formatting"] == "sharegpt" and info["fix_sharegpt"]["tags"]["user_tag"] == "human"
    assert info["fix_dpo"]["ranking"] is True and info["fix_dpo"]["columns"]["chosen"] == "chosen"
    assert info["fix_dpo_alpaca"]["ranking"] is True and "formatting" not in info["fix_dpo_alpaca"]
    alpaca = json.loads((tmp_path / "fix_alpaca.json").read_text())
    assert alpaca[0] == {
        "instruction": SFT_ROWS[0]["messages"][1]["content"],
        "input": "",
        "system": SYS["content"],
        "output": SFT_ROWS[0]["messages"][2]["content"],
    }
    assert alpaca[1]["history"] == [["Bonjour — où est g ?", "Dans b.py."]]
    sg = json.loads((tmp_path / "fix_sharegpt.json").read_text())
    assert sg[0]["conversations"][0] == {"from": "human", "value": SFT_ROWS[0]["messages"][1]["content"]}
    assert sg[0]["system"] == SYS["content"]
    dpo = json.loads((tmp_path / "fix_dpo.json").read_text())
    assert dpo[0]["chosen"] == {"from": "gpt", "value": "a.py"}


def test_alpaca_input_is_joined_like_llama_factory(tmp_path):
    p = tmp_path / "a.json"
    p.write_text(json.dumps([{"instruction": "Translate", "input": "bonjour", "output": "hello"}]))
    res = formats.read(p)
    assert res.rows[0]["messages"] == [
        {"role": "user", "content": "Translate\nbonjour"},
        {"role": "assistant", "content": "hello"},
    ]


def test_trl_standard_text_forms_and_implicit_prompt(tmp_path):
    p = tmp_path / "pc.jsonl"
    p.write_text(json.dumps({"prompt": "Where is f?", "completion": "a.py"}) + "\n")
    assert formats.read(p).rows[0]["messages"] == [
        {"role": "user", "content": "Where is f?"},
        {"role": "assistant", "content": "a.py"},
    ]
    q = tmp_path / "implicit.jsonl"
    user = {"role": "user", "content": "Where is f?"}
    q.write_text(
        json.dumps(
            {
                "chosen": [user, {"role": "assistant", "content": "a.py"}],
                "rejected": [user, {"role": "assistant", "content": "z.py"}],
            }
        )
        + "\n"
    )
    row = formats.read(q).rows[0]
    assert row["prompt"] == [user] and row["chosen"][0]["content"] == "a.py" and row["rejected"][0]["content"] == "z.py"


def test_bad_records_are_problems_with_lines_and_good_rows_are_kept(tmp_path):
    p = tmp_path / "mixed.jsonl"
    good = json.dumps(
        {"messages": [{"role": "user", "content": "hello there"}, {"role": "assistant", "content": "hi!"}]}
    )
    p.write_text("\n".join([good, "{not json", "[1, 2]", json.dumps({"messages": "hi"}), "", good]) + "\n")
    res = formats.read(p)
    assert res.format == "openai-chat" and len(res.rows) == 2
    assert [(pr.line, pr.kind) for pr in res.problems] == [
        (2, "not_json"),
        (3, "not_an_object"),
        (4, "missing_messages"),
    ]
    assert [r["line"] for r in res.rows] == [1, 6]


def test_write_refuses_rows_the_format_cannot_hold(tmp_path):
    with pytest.raises(formats.FormatError, match="preference pairs"):
        formats.write(SFT_ROWS, tmp_path / "x.jsonl", "openai-preference")
    with pytest.raises(formats.FormatError, match="SFT examples"):
        formats.write(PREF_ROWS, tmp_path / "x.jsonl", "alpaca")
    with pytest.raises(formats.FormatError, match="did you mean sharegpt"):
        formats.write(SFT_ROWS, tmp_path / "x.jsonl", "sharegtp")
    assert not (tmp_path / "x.jsonl").exists()


def test_undetectable_file_is_a_clear_error(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text(json.dumps({"foo": 1}) + "\n")
    with pytest.raises(formats.FormatError, match="cannot tell the format"):
        formats.read(p)


def test_build_rows_export_and_import_round_trip(tmp_path):
    from ftui.core.build import builder
    from tests.fixtures.datasets.workspace import make_workspace, write_default_corrections

    ws = make_workspace(tmp_path / "ws")
    write_default_corrections(ws)
    b = builder.build(ws)
    for fmt in SFT_FORMATS:
        out = tmp_path / f"{fmt}.jsonl"
        formats.write(b.rows("train"), out, fmt)
        assert _content(formats.read(out).rows, ["messages"]) == _content(b.rows("train"), ["messages"])
    for fmt in PREF_FORMATS:
        out = tmp_path / f"{fmt}.jsonl"
        formats.write(b.rows("dpo_train"), out, fmt)
        keys = ["prompt", "chosen", "rejected"]
        assert _content(formats.read(out).rows, keys) == _content(b.rows("dpo_train"), keys)
    # The build's own files read as TRL formats, ids included.
    assert formats.read(b.train_path).format == "trl-messages"
    assert formats.read(b.dpo_train_path).format == "trl-preference"


@pytest.mark.parametrize("fmt", ["trl-messages", "sharegpt", "openai-preference", "alpaca-preference"])
def test_parquet_round_trip(tmp_path, fmt):
    rows = SFT_ROWS if formats.kind_of(fmt) == formats.SFT else PREF_ROWS
    keys = ["messages"] if formats.kind_of(fmt) == formats.SFT else ["prompt", "chosen", "rejected"]
    path = tmp_path / "data.parquet"
    formats.write(rows, path, fmt)
    res = formats.read(path)
    assert res.format == fmt and res.problems == []
    assert _content(res.rows, keys) == _content(rows, keys)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
