"""transformers v4's own BERT tokenizer tests (tests/models/bert/test_tokenization_bert.py and
tests/test_tokenization_common.py), restated for both of our tokenizers with one expected behaviour."""

from __future__ import annotations

import pytest

from bert_core import BertTokenizer, BertTokenizerFast
from bert_core.tokenization.added import AddedToken
from tests.conftest import FIXTURES

CLASSES = (BertTokenizer, BertTokenizerFast)
SPEC_VOCAB = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]", "want", "##want", "##ed", "wa", "un", "runn", "##ing",
              ",", "low", "lowest"]
CASED_VOCAB = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]", "A", ",", "na", "##ï", "##ve", "Allen", "##NL", "##P",
               "sentence", "."]


@pytest.fixture(params=CLASSES, ids=lambda c: c.__name__)
def cls(request):
    return request.param


def vocab_file(tmp_path, words):
    path = tmp_path / "vocab.txt"
    path.write_text("".join(w + "\n" for w in words), encoding="utf-8")
    return path


def test_full_tokenizer(cls, tmp_path):
    tok = cls(vocab_file(tmp_path, SPEC_VOCAB))
    tokens = tok.tokenize("UNwant\u00e9d,running")
    assert tokens == ["un", "##want", "##ed", ",", "runn", "##ing"]
    assert tok.convert_tokens_to_ids(tokens) == [9, 6, 7, 12, 10, 11]
    assert tok.encode("UNwant\u00e9d,running") == [1, 9, 6, 7, 12, 10, 11, 2]
    assert [tok.tokenize(t) for t in ["Test", "\xad", "test"]] == [["[UNK]"], [], ["[UNK]"]]
    assert tok.tokenize("want", "low", add_special_tokens=True) == ["[CLS]", "want", "[SEP]", "low", "[SEP]"]
    assert tok.decode(tok.encode("UNwant\u00e9d,running", add_special_tokens=False)) == "unwanted, running"


def test_offsets_with_special_characters_cased(cls, tmp_path):
    tok = cls(vocab_file(tmp_path, CASED_VOCAB), do_lower_case=False)
    enc = tok.encode_plus("A, naïve [MASK] AllenNLP sentence.", return_attention_mask=False,
                          return_token_type_ids=False, return_offsets_mapping=True)
    assert tok.convert_ids_to_tokens(enc["input_ids"]) == ["[CLS]", "A", ",", "na", "##ï", "##ve", "[MASK]", "Allen",
                                                            "##NL", "##P", "sentence", ".", "[SEP]"]
    assert enc["offset_mapping"] == [(0, 0), (0, 1), (1, 2), (3, 5), (5, 6), (6, 8), (9, 15), (16, 21), (21, 23),
                                     (23, 24), (25, 33), (33, 34), (0, 0)]
    assert set(enc) == {"input_ids", "offset_mapping"}


def test_offsets_with_special_characters_uncased(cls):
    tok = cls.from_pretrained(FIXTURES / "minilm-tokenizer")
    enc = tok.encode_plus("A, naïve [MASK] AllenNLP sentence.", return_offsets_mapping=True)
    assert tok.convert_ids_to_tokens(enc["input_ids"]) == ["[CLS]", "a", ",", "naive", "[MASK]", "allen", "##nl",
                                                            "##p", "sentence", ".", "[SEP]"]
    assert enc["offset_mapping"] == [(0, 0), (0, 1), (1, 2), (3, 8), (9, 15), (16, 21), (21, 23), (23, 24), (25, 33),
                                     (33, 34), (0, 0)]


def test_change_tokenize_chinese_chars(cls):
    chars = ["的", "人", "有"]
    for split, expected in ((True, chars), (False, [chars[0]] + ["##" + c for c in chars[1:]])):
        tok = cls.from_pretrained(FIXTURES / "minilm-tokenizer", tokenize_chinese_chars=split)
        assert tok.convert_ids_to_tokens(tok.encode("".join(chars), add_special_tokens=False)) == expected


def test_added_tokens_do_lower_case(cls):
    tok = cls.from_pretrained(FIXTURES / "minilm-tokenizer")
    special = tok.all_special_tokens[0]
    text = special + " aaaaa bbbbbb low cccccccccdddddddd l " + special
    text2 = special + " AAAAA BBBBBB low CCCCCCCCCDDDDDDDD l " + special
    before = tok.tokenize(text)
    new = ["aaaaa bbbbbb", "cccccccccdddddddd", "AAAAA BBBBBB", "CCCCCCCCCDDDDDDDD"]
    assert tok.add_tokens([AddedToken(t, lstrip=True, rstrip=True) for t in new]) == 2
    assert tok.tokenize(text) == tok.tokenize(text2) and len(before) > len(tok.tokenize(text))
    sequence = "A " + " yEs ".join(tok.all_special_tokens) + " B"
    assert all(s in tok.tokenize(sequence) for s in tok.all_special_tokens)


def test_add_special_tokens_cls(cls, tmp_path):
    tok = cls(vocab_file(tmp_path, SPEC_VOCAB))
    tok.add_special_tokens({"cls_token": "[SPECIAL_TOKEN]"})
    encoded = tok.encode("[SPECIAL_TOKEN]", add_special_tokens=False)
    assert len(encoded) == 1 and tok.cls_token_id == encoded[0] == len(SPEC_VOCAB)
    assert "[SPECIAL_TOKEN]" not in tok.decode(tok.encode("want") + encoded, skip_special_tokens=True)
    assert tok.encode("want")[0] == encoded[0]  # the new cls_token frames inputs


def test_internal_consistency_and_conversion_reversible(cls):
    tok = cls.from_pretrained(FIXTURES / "minilm-tokenizer")
    text = "UNwant\u00e9d,running"
    tokens = tok.tokenize(text)
    assert tok.convert_tokens_to_ids(tokens) == tok.encode(text, add_special_tokens=False)
    assert tok.convert_ids_to_tokens(tok.convert_tokens_to_ids(tokens)) == tokens
    vocab = tok.get_vocab()
    for word, index in list(vocab.items())[:2000]:
        if word == tok.unk_token:
            continue
        assert tok.convert_tokens_to_ids(word) == index and tok.convert_ids_to_tokens(index) == word


def test_common_properties(cls):
    tok = cls.from_pretrained(FIXTURES / "minilm-tokenizer")
    for name in ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"):
        assert hasattr(tok, name) and hasattr(tok, name + "_id")
    for name in ("additional_special_tokens", "additional_special_tokens_ids", "model_max_length", "init_kwargs",
                 "added_tokens_encoder", "added_tokens_decoder", "padding_side", "truncation_side",
                 "model_input_names", "is_fast"):
        assert hasattr(tok, name)
    assert tok.init_kwargs["do_lower_case"] is True and tok.init_kwargs["model_max_length"] == 512
    assert set(tok.init_kwargs["added_tokens_decoder"]) == {"0", "100", "101", "102", "103"}


def test_small_v4_helpers(cls, tmp_path):
    tok = cls(vocab_file(tmp_path, SPEC_VOCAB), model_max_length=16)
    assert (tok.max_len_single_sentence, tok.max_len_sentences_pair) == (14, 13)
    assert tok.truncate_sequences([5, 6, 7, 8], [9, 10], num_tokens_to_remove=2, truncation_strategy="only_first",
                                  stride=1) == ([5, 6], [9, 10], [6, 7, 8])
    assert tok.truncate_sequences([5, 6, 7, 8], [9, 10], 3) == ([5, 6], [9], [])
    tok.add_tokens(["extra"])
    (tmp_path / "out").mkdir()
    (path,) = tok.save_vocabulary(tmp_path / "out", filename_prefix="p")
    assert path.endswith("p-vocab.txt")
    assert (tmp_path / "out" / "p-vocab.txt").read_text(encoding="utf-8").split() == SPEC_VOCAB
    with pytest.raises(ValueError, match="existing folder"):
        tok.save_vocabulary(tmp_path / "missing")
    assert tok.vocab["extra"] == len(SPEC_VOCAB) if tok.is_fast else tok.get_vocab()["extra"] == len(SPEC_VOCAB)
