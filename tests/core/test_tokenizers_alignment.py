"""is_split_into_words, word_ids() and BatchEncoding's alignment methods, the same on both tokenizers (issue 13).

The pure-Python tokenizer's offsets / word ids / sequence ids are checked against what transformers'
BertTokenizerFast returned (tests/fixtures/tokenizer/tokenizer_cases.json) wherever the two give the same ids.
"""

from __future__ import annotations

import json
import pickle

import pytest

from bert_core import BertTokenizer, BertTokenizerFast
from bert_core.tokenization.alignment import CharSpan, TokenSpan
from tests.conftest import FIXTURES

DATA = json.loads((FIXTURES / "tokenizer" / "tokenizer_cases.json").read_text(encoding="utf-8"))
CLASSES = (BertTokenizer, BertTokenizerFast)
WORDS = ["Hello", "world,", "naïve", "unaffable", "你好"]


@pytest.fixture(scope="module", params=CLASSES, ids=lambda c: c.__name__)
def tok(request):
    return request.param.from_pretrained(FIXTURES / "minilm-tokenizer")


@pytest.fixture(scope="module")
def slow():
    return BertTokenizer.from_pretrained(FIXTURES / "minilm-tokenizer")


def _minus_one(values):
    return [-1 if v is None else v for v in values]


@pytest.mark.parametrize("case", [c for c in DATA["cases"] if "error" not in c["fast"] and "error" not in c["slow"]
                                  and c["slow"]["input_ids"] == c["fast"]["input_ids"]],
                         ids=lambda c: f"case{c['id']}")
def test_slow_alignment_matches_transformers_fast(slow, case):
    expected = case["fast"]
    enc = slow(case["text"], case.get("text_pair"), return_offsets_mapping=True, **case["kwargs"])
    assert [list(span) for span in enc["offset_mapping"]] == expected["offsets"]
    assert _minus_one(enc.word_ids()) == expected["word_ids"]
    assert _minus_one(enc.sequence_ids()) == expected["sequence_ids"]
    assert enc.tokens() == expected["tokens"]


def test_split_into_words_equals_joined_text(tok):
    ids = tok.encode(WORDS, is_split_into_words=True, add_special_tokens=False)
    assert ids == tok.encode(" ".join(WORDS), add_special_tokens=False)
    enc = tok(WORDS, is_split_into_words=True)
    assert enc.word_ids() == [None, 0, 1, 1, 2, 3, 3, 3, 4, 4, None]
    assert enc["input_ids"] == [101] + ids + [102]
    # offsets count within each word, as transformers' fast tokenizer does
    enc = tok(WORDS, is_split_into_words=True, return_offsets_mapping=True)
    assert enc["offset_mapping"][:4] == [(0, 0), (0, 5), (0, 5), (5, 6)]


def test_split_into_words_batch_pairs_truncation_padding():
    slow, fast = (cls.from_pretrained(FIXTURES / "minilm-tokenizer") for cls in CLASSES)
    batch = [WORDS, ["short"], []]
    pairs = [["a", "pair"], ["another", "one", "!"], ["x"]]
    for options in ({}, {"padding": True}, {"truncation": "only_first", "max_length": 7, "padding": "max_length"},
                    {"padding": True, "padding_side": "left", "return_offsets_mapping": True}):
        got = [tok(batch, pairs, is_split_into_words=True, **options) for tok in (slow, fast)]
        assert got[0].data == got[1].data, options
        for row in range(len(batch)):
            assert got[0].word_ids(row) == got[1].word_ids(row)
            assert got[0].sequence_ids(row) == got[1].sequence_ids(row)
            assert got[0].tokens(row) == got[1].tokens(row)
    both = [tok.batch_encode_plus(list(zip(batch, pairs)), is_split_into_words=True) for tok in (slow, fast)]
    assert both[0].data == both[1].data and both[0].word_ids(1) == both[1].word_ids(1)
    with pytest.raises(ValueError, match="list of words"):
        slow("not split", is_split_into_words=True)


def test_alignment_methods(tok):
    text, pair = "Hello, unaffable world!", "Second one"
    enc = tok([text, "x"], [pair, "y"], padding=True)
    assert enc.tokens(0) == ["[CLS]", "hello", ",", "una", "##ffa", "##ble", "world", "!", "[SEP]", "second",
                             "one", "[SEP]"]
    assert enc.word_ids(0) == [None, 0, 1, 2, 2, 2, 3, 4, None, 0, 1, None]
    assert enc.sequence_ids(0) == [None, 0, 0, 0, 0, 0, 0, 0, None, 1, 1, None]
    assert enc.token_to_word(0, 4) == 2 and enc.token_to_word(0, 0) is None
    assert enc.token_to_sequence(0, 9) == 1 and enc.token_to_sequence(1, -1) is None
    assert enc.word_to_tokens(0, 2) == TokenSpan(3, 6)
    assert enc.word_to_tokens(0, 0, sequence_index=1) == TokenSpan(9, 10)
    assert enc.word_to_tokens(0, 9) is None
    assert enc.token_to_chars(0, 4) == CharSpan(10, 13) and enc.token_to_chars(0, 0) is None
    assert enc.word_to_chars(0, 2) == CharSpan(7, 16)
    assert enc.char_to_token(0, 8) == 3 and enc.char_to_token(0, 6) is None
    assert enc.char_to_token(0, 0, sequence_index=1) == 9
    assert enc.char_to_word(0, 18) == 3 and enc.char_to_word(0, 7, sequence_index=1) == 1
    assert enc.tokens(1)[-1] == "[PAD]" and enc.word_ids(1)[-1] is None
    assert enc.n_sequences == 2 and tok(text).n_sequences == 1
    single = tok(text)
    assert single.char_to_token(8) == 3 and single.token_to_word(-2) == 4 and single.word_to_tokens(3) == (6, 7)


def test_special_tokens_mask_and_offsets(tok):
    enc = tok("Hello [MASK] world", return_special_tokens_mask=True, return_offsets_mapping=True)
    assert enc["special_tokens_mask"] == [1, 0, 0, 0, 1]
    assert enc["offset_mapping"] == [(0, 0), (0, 5), (6, 12), (13, 18), (0, 0)]
    assert enc.word_ids() == [None, 0, 1, 2, None]


def test_alignment_survives_pickle_and_tensors(tok):
    enc = tok(["Hello world", "hi"], padding=True, return_tensors="np")
    assert enc.word_ids(1) == [None, 0, None, None]
    again = pickle.loads(pickle.dumps(enc))
    assert again.word_ids(0) == [None, 0, 1, None] and again.char_to_token(0, 7) == 2


def test_added_token_offsets_match_the_backend():
    from bert_core.tokenization.added import AddedToken

    slow, fast = (cls.from_pretrained(FIXTURES / "minilm-tokenizer") for cls in CLASSES)
    for tok in (slow, fast):
        tok.add_tokens([AddedToken("<ent>", lstrip=True, rstrip=True), AddedToken("<l>", lstrip=True),
                        AddedToken("zz", single_word=True)])
    for text in ["hello  <ent>  world", " <ent>", "a <l> <l> b", "<ent><ent> <ent>", "azz zz zza", "x zz, y"]:
        got = [tok(text, return_offsets_mapping=True) for tok in (slow, fast)]
        assert got[0].data == got[1].data, text
        assert got[0].word_ids() == got[1].word_ids(), text
    assert slow("hello  <ent>  world", return_offsets_mapping=True)["offset_mapping"][2] == (5, 14)
