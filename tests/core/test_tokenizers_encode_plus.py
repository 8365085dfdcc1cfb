"""transformers v4's encode_plus / batch_encode_plus / prepare_for_model on both tokenizers (issue 13).

Expectations come from tests/fixtures/tokenizer/tokenizer_cases.json (written by transformers 4.57.6) and from
the v4 rule that these methods are ``__call__`` with the same options.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from bert_core import BatchEncoding, BertTokenizer, BertTokenizerFast
from tests.conftest import FIXTURES

DATA = json.loads((FIXTURES / "tokenizer" / "tokenizer_cases.json").read_text(encoding="utf-8"))
SIDES = {"slow": BertTokenizer, "fast": BertTokenizerFast}
FIELDS = ("input_ids", "token_type_ids", "attention_mask")
OPTIONS = [{}, {"truncation": True, "max_length": 6}, {"padding": "max_length", "max_length": 12},
           {"return_special_tokens_mask": True, "return_length": True, "return_attention_mask": False},
           {"truncation": "only_first", "max_length": 8, "stride": 2, "return_overflowing_tokens": True},
           {"padding": True, "pad_to_multiple_of": 8, "padding_side": "left"}]
PAIRS = [("Hello, world!", None), ("The quick brown fox jumps over the lazy dog.", "A pair, here."),
         ("naïve café", "")]


@pytest.fixture(scope="module", params=sorted(SIDES))
def side_tok(request):
    return request.param, SIDES[request.param].from_pretrained(FIXTURES / "minilm-tokenizer")


def _plain(encode, *args, **kwargs):
    """The result as plain lists, or the error it raised (transformers' fast tokenizer refuses some truncations
    its slow one only logs)."""
    try:
        enc = encode(*args, **kwargs)
    except ValueError as exc:
        return type(exc)
    return {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in enc.items()}


@pytest.mark.parametrize("case", DATA["cases"][::5], ids=lambda c: f"case{c['id']}")
def test_encode_plus_matches_fixture(side_tok, case):
    side, tok = side_tok
    expected = case[side]
    if "error" in expected:
        with pytest.raises(ValueError):
            tok.encode_plus(case["text"], case.get("text_pair"), **case["kwargs"])
        return
    enc = tok.encode_plus(case["text"], case.get("text_pair"), **case["kwargs"])
    assert isinstance(enc, BatchEncoding)
    for field in FIELDS:
        assert enc[field] == expected[field], field
    kwargs = {k: v for k, v in case["kwargs"].items() if k not in ("return_attention_mask", "return_token_type_ids")}
    assert tok.encode(case["text"], case.get("text_pair"), **kwargs) == expected["input_ids"]


def test_batch_encode_plus_matches_fixture(side_tok):
    side, tok = side_tok
    batch = DATA["batch"]
    enc = tok.batch_encode_plus(batch["texts"], **batch["kwargs"])
    for field in FIELDS:
        assert enc[field] == batch[side][field], field


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "defaults")
def test_encode_plus_and_batch_encode_plus_are_call(side_tok, options):
    _, tok = side_tok
    for text, pair in PAIRS:
        assert _plain(tok.encode_plus, text, pair, **options) == _plain(tok, text, pair, **options)
    texts, pairs = [p[0] for p in PAIRS], [p[1] or "" for p in PAIRS]
    assert _plain(tok.batch_encode_plus, list(zip(texts, pairs)), **options) == _plain(tok, texts, pairs, **options)
    assert _plain(tok.batch_encode_plus, texts, **options) == _plain(tok, texts, **options)
    tensors = tok.batch_encode_plus(texts, padding=True, return_tensors="np")
    assert isinstance(tensors["input_ids"], np.ndarray) and tensors["input_ids"].shape[0] == len(texts)


@pytest.mark.parametrize("options", [o for o in OPTIONS if "return_overflowing_tokens" not in o] + [
    {"truncation": "only_second", "max_length": 10}, {"padding": "max_length", "max_length": 9, "truncation": True}],
    ids=lambda o: ",".join(o) or "defaults")
def test_prepare_for_model_is_call_on_ids(side_tok, options):
    _, tok = side_tok
    for text, pair in PAIRS:
        ids = tok.encode(text, add_special_tokens=False)
        pair_ids = None if pair is None else tok.encode(pair, add_special_tokens=False)
        if pair == "" and tok.is_fast:
            pair_ids = None  # the fast tokenizer drops an empty text_pair, as transformers
        got, want = _plain(tok.prepare_for_model, ids, pair_ids, **options), _plain(tok, text, pair, **options)
        if tok.is_fast and isinstance(want, dict) and "length" in want:
            want["length"] = want["length"][0]  # transformers' fast __call__ gives length as a 1-list
        if want is ValueError:  # the fast tokenizer refuses what the pure-Python rules only log
            continue
        assert got == want


def test_prepare_for_model_options(side_tok):
    _, tok = side_tok
    ids = tok.encode("hello world , this is a test", add_special_tokens=False)
    assert len(ids) == 7
    enc = tok.prepare_for_model(ids, truncation=True, max_length=5, stride=1, return_overflowing_tokens=True)
    assert enc["input_ids"] == [101] + ids[:3] + [102]
    assert enc["overflowing_tokens"] == ids[2:] and enc["num_truncated_tokens"] == 4
    enc = tok.prepare_for_model(ids, padding="max_length", max_length=12, return_length=True)
    assert enc["input_ids"][-3:] == [0, 0, 0] and enc["attention_mask"] == [1] * 9 + [0] * 3
    assert enc["length"] == 12
    assert "attention_mask" not in tok.prepare_for_model(ids, return_attention_mask=False)
    pt = tok.prepare_for_model(ids, return_tensors="np", prepend_batch_axis=True)
    assert pt["input_ids"].shape == (1, 9)
    assert tok.prepare_for_model(ids, return_tensors="np")["input_ids"].shape == (9,)
    with pytest.raises(ValueError, match="list of ints"):
        tok.prepare_for_model(["hello"])
    with pytest.raises(NotImplementedError):
        tok.prepare_for_model(ids, return_offsets_mapping=True)


def test_encode_plus_input_forms():
    slow = BertTokenizer.from_pretrained(FIXTURES / "minilm-tokenizer")
    fast = BertTokenizerFast.from_pretrained(FIXTURES / "minilm-tokenizer")
    ids = slow.encode("hello world")
    # the pure-Python tokenizer takes tokens or ids, as transformers' slow one
    assert slow.encode_plus(["hello", "world"])["input_ids"] == ids
    assert slow.encode_plus([7592, 2088])["input_ids"] == ids
    for tok in (slow, fast):
        with pytest.raises(ValueError, match="text"):
            tok.encode_plus(3)
        with pytest.raises(ValueError, match="batch_encode_plus takes a list"):
            tok.batch_encode_plus("hello")
        with pytest.raises(TypeError, match="Unknown tokenizer option"):
            tok.encode_plus("hello", paddding=True)
    with pytest.raises(ValueError, match="list of tokens"):
        slow.encode_plus([1.5])
    with pytest.raises(ValueError):
        fast.encode_plus([7592, 2088])
