"""Slow -> fast conversion and train_new_from_iterator (issue 13)."""

from __future__ import annotations

import pytest

from bert_core import BertTokenizer, BertTokenizerFast
from bert_core.tokenization.added import AddedToken
from tests.conftest import FIXTURES

FOLDER = FIXTURES / "minilm-tokenizer"
TEXTS = ["Hello, world!", "The quick brown fox jumps over the lazy dog.", "naïve café 你好", "[MASK] here <ent>"]
CORPUS = ["the quick brown fox jumps over the lazy dog", "hello world, hello tokenizers",
          "a tokenizer splits words into word pieces", "jumping foxes and lazy dogs"] * 25


def test_from_slow_gives_the_same_ids(tmp_path):
    slow = BertTokenizer.from_pretrained(FOLDER, model_max_length=64)
    slow.add_tokens(["newword", AddedToken("CaseKept", normalized=False)])
    slow.add_special_tokens({"additional_special_tokens": ["<ent>"]})
    fast = BertTokenizerFast.from_slow(slow)
    assert isinstance(fast, BertTokenizerFast) and fast.model_max_length == 64
    for text in TEXTS + ["newword CaseKept casekept"]:
        assert fast.encode(text) == slow.encode(text)
    assert fast.added_tokens_decoder == slow.added_tokens_decoder
    assert fast.additional_special_tokens == ["<ent>"]


def test_from_pretrained_from_slow(tmp_path):
    fast = BertTokenizerFast.from_pretrained(FOLDER)
    fast.save_pretrained(tmp_path)
    (tmp_path / "tokenizer.json").write_text("not json")  # ignored with from_slow=True
    again = BertTokenizerFast.from_pretrained(tmp_path, from_slow=True)
    assert [again.encode(t) for t in TEXTS] == [fast.encode(t) for t in TEXTS]


def test_train_new_from_iterator(tmp_path):
    fast = BertTokenizerFast.from_pretrained(FOLDER)
    fast.add_tokens(["foxes"])
    new = fast.train_new_from_iterator(iter(CORPUS), vocab_size=120, new_special_tokens=["<ent>"])
    assert isinstance(new, BertTokenizerFast) and new.vocab_size <= 120
    assert new.convert_ids_to_tokens([0, 1, 2, 3, 4, 5]) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "<ent>"]
    assert (new.cls_token_id, new.sep_token_id, new.pad_token_id) == (2, 3, 0)
    enc = new("The quick fox <ent>", "lazy dogs")
    assert enc["input_ids"][0] == 2 and enc["input_ids"][-1] == 3 and 5 in enc["input_ids"]
    assert enc["token_type_ids"][-1] == 1
    assert new.tokenize("quick foxes") == ["quick", "foxes"]  # the added token kept
    assert new.additional_special_tokens == ["<ent>"]
    # the trained tokenizer saves, reloads, and its vocab.txt drives the pure-Python tokenizer identically
    new.save_pretrained(tmp_path)
    slow = BertTokenizer.from_pretrained(tmp_path)
    for text in TEXTS + CORPUS[:4]:
        assert slow.encode(text) == new.encode(text) == BertTokenizerFast.from_pretrained(tmp_path).encode(text)
    batches = fast.train_new_from_iterator([CORPUS[:50], CORPUS[50:]], 100, special_tokens_map={"[UNK]": "<unk>"})
    assert batches.unk_token == "<unk>" and batches.convert_ids_to_tokens(1) == "<unk>"
    assert batches.encode("☃", add_special_tokens=False) == [1]
    with pytest.raises(ValueError, match="vocab_size"):
        fast.train_new_from_iterator(CORPUS, 0)
