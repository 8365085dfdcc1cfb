"""TFBertTokenizer: in-graph ids equal transformers' slow BertTokenizer on the fixture cases, and bert_core's
BertTokenizer on the options transformers' TF tokenizer ignored (casing, accents, CJK)."""

from __future__ import annotations

import json

import pytest
import tensorflow as tf

from bert_tf.tokenizer import TFBertTokenizer
from tests.conftest import FIXTURES

VOCAB = FIXTURES / "minilm-tokenizer"
CASES = json.loads((FIXTURES / "tokenizer" / "tokenizer_cases.json").read_text(encoding="utf-8"))
KEYS = ("input_ids", "token_type_ids", "attention_mask")
# Call options the layer takes. return_* flags only choose outputs (the layer always returns all three).
SUPPORTED = {"truncation", "max_length", "add_special_tokens", "padding", "return_token_type_ids",
             "return_attention_mask"}


@pytest.fixture(scope="module")
def tokenizer() -> TFBertTokenizer:
    return TFBertTokenizer.from_pretrained(VOCAB)


def _usable(case) -> str | None:
    """Why a case is skipped, or None. Skipped: cases where the slow tokenizer raised (transformers refuses
    return_token_type_ids with add_special_tokens=False; the layer has no such error) and unsupported kwargs."""
    if "error" in case["slow"]:
        return f"slow tokenizer raised: {case['slow']['error'][:60]}"
    unsupported = set(case["kwargs"]) - SUPPORTED
    return f"unsupported kwargs {sorted(unsupported)}" if unsupported else None


def test_every_fixture_case(tokenizer):
    checked, skipped = 0, {}
    for case in CASES["cases"]:
        why = _usable(case)
        if why:
            skipped[case["id"]] = why
            continue
        kwargs = {k: v for k, v in case["kwargs"].items() if not k.startswith("return_")}
        pair = None if case.get("text_pair") is None else tf.constant([case["text_pair"]])
        out = tokenizer(tf.constant([case["text"]]), pair, **kwargs)
        for key in KEYS:
            assert out[key][0].numpy().tolist() == case["slow"][key], (case["id"], case["text"], key)
        checked += 1
    assert checked >= 100 and set(skipped) == {188}, skipped  # 188: the slow tokenizer raised (see _usable)


def test_batch_padding_in_graph(tokenizer):
    batch = CASES["batch"]
    run = tf.function(lambda t: tokenizer(t))
    out = run(tf.constant(batch["texts"]))
    for key in KEYS:
        assert out[key].numpy().tolist() == batch["slow"][key]
    padded = tokenizer(tf.constant(batch["texts"]), padding="max_length", max_length=16)
    assert padded["input_ids"].shape == (5, 16)
    assert padded["input_ids"].numpy()[2].tolist() == [101, 102] + [0] * 14


def test_pairs_pad_token_types_with_zero(tokenizer):
    out = tokenizer(tf.constant(["a b c d", "x"]), tf.constant(["e", "y z"]))
    assert out["token_type_ids"].numpy().tolist() == [[0, 0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 1, 0, 0]]
    assert out["attention_mask"].numpy().tolist()[1] == [1] * 6 + [0, 0]


@pytest.mark.parametrize("options", [dict(do_lower_case=False), dict(strip_accents=False),
                                     dict(tokenize_chinese_chars=False), dict(do_lower_case=False,
                                                                              strip_accents=True)])
def test_options_match_bert_core(options):
    core = pytest.importorskip("bert_core.tokenization.bert")
    reference = core.BertTokenizer.from_pretrained(str(VOCAB), **options)
    layer = TFBertTokenizer.from_tokenizer(reference)
    texts = ["Héllo WÖRLD, naïve café!", "北京是中国的首都 and 日本語", "İstanbul Ångström ÀÁÂ", "[MASK] [cls] ##ing"]
    out = layer(tf.constant(texts))
    for i, text in enumerate(texts):
        expected = reference(text)["input_ids"]
        got = [t for t, m in zip(out["input_ids"][i].numpy().tolist(), out["attention_mask"][i].numpy()) if m]
        assert got == list(expected), (options, text)


def test_bad_options():
    with pytest.raises(ValueError, match="max_length"):
        TFBertTokenizer.from_pretrained(VOCAB, padding="max_length")
    with pytest.raises(ValueError, match="truncation"):
        TFBertTokenizer.from_pretrained(VOCAB, truncation="sideways")
