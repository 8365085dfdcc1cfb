"""Added tokens on both tokenizers with one behaviour (issue 13): add_tokens, add_special_tokens, AddedToken
options, longest match first, split_special_tokens, id setters, and saving / reloading them in transformers'
files (tokenizer_config.json, added_tokens.json, special_tokens_map.json)."""

from __future__ import annotations

import copy
import json
import pickle

import pytest

from bert_core import BertTokenizer, BertTokenizerFast
from bert_core.tokenization.added import AddedToken
from tests.conftest import FIXTURES

CLASSES = (BertTokenizer, BertTokenizerFast)
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "new", "est", "low", "er", "##er",
         "##est", "a", "b", "c", "##a", "##b", "##c", "!", ",", "[", "]", "cl", "##s", "<", ">"]
BASE = len(WORDS)


@pytest.fixture(params=CLASSES, ids=lambda c: c.__name__)
def cls(request):
    return request.param


def make(cls, tmp_path, **kwargs):
    (tmp_path / "vocab.txt").write_text("".join(w + "\n" for w in WORDS), encoding="utf-8")
    return cls(tmp_path / "vocab.txt", **kwargs)


def test_add_tokens(cls, tmp_path):
    tok = make(cls, tmp_path)
    assert tok.vocab_size == BASE and len(tok) == BASE
    assert tok.add_tokens(["aaaaa bbbbbb", "cccccccccdddddddd", "hello"]) == 2  # "hello" is in the vocab
    assert tok.add_tokens([]) == 0 and tok.add_tokens("aaaaa bbbbbb") == 0
    assert tok.vocab_size == BASE and len(tok) == BASE + 2
    ids = tok.encode("aaaaa bbbbbb low cccccccccdddddddd l", add_special_tokens=False)
    assert ids == [BASE, WORDS.index("low"), BASE + 1, 1]
    assert tok.get_vocab()["cccccccccdddddddd"] == BASE + 1
    assert tok.get_added_vocab()["aaaaa bbbbbb"] == BASE
    assert tok.convert_ids_to_tokens([BASE, BASE + 1]) == ["aaaaa bbbbbb", "cccccccccdddddddd"]
    assert tok.decode([5, BASE, 6]) == "hello aaaaa bbbbbb world"
    decoder = tok.added_tokens_decoder
    assert list(decoder) == sorted(decoder) and isinstance(decoder[BASE], AddedToken)
    assert (decoder[BASE].content, decoder[BASE].special, decoder[BASE].normalized) == ("aaaaa bbbbbb", False, True)
    assert decoder[0].content == "[PAD]" and decoder[0].special and not decoder[0].normalized


def test_add_special_tokens(cls, tmp_path):
    tok = make(cls, tmp_path)
    added = tok.add_special_tokens({"eos_token": ">>>>|||<||<<|<<", "pad_token": "<<<<<|||>|>>>>|>",
                                    "additional_special_tokens": ["<ent>"]})
    assert added == 3
    assert tok.eos_token == ">>>>|||<||<<|<<" and tok.eos_token_id == BASE
    assert tok.pad_token_id == BASE + 1 and tok.additional_special_tokens_ids == [BASE + 2]
    ids = tok.encode(">>>>|||<||<<|<< hello <<<<<|||>|>>>>|> <ent>", add_special_tokens=False)
    assert ids == [BASE, 5, BASE + 1, BASE + 2]
    assert tok.decode(ids, skip_special_tokens=True) == "hello"
    tok.add_special_tokens({"additional_special_tokens": ["<x>"]}, replace_additional_special_tokens=False)
    assert tok.additional_special_tokens == ["<ent>", "<x>"]
    tok.add_special_tokens({"additional_special_tokens": ["<y>"]})
    assert tok.additional_special_tokens == ["<y>"]
    assert tok.add_tokens(["<z>"], special_tokens=True) == 1 and "<z>" in tok.all_special_tokens
    with pytest.raises(ValueError, match="Unknown special token key"):
        tok.add_special_tokens({"foo_token": "x"})


def test_added_token_options_and_longest_match(cls, tmp_path):
    tok = make(cls, tmp_path)
    tok.add_tokens(["new", "newer", AddedToken("ab", single_word=True), "HeLLo2",
                    AddedToken("NoLow", normalized=False)])
    assert tok.get_added_vocab()["hello2"] == tok.convert_tokens_to_ids("hello2")  # normalized: lower-cased
    assert tok.tokenize("newer newest") == ["newer", "new", "est"]
    assert tok.tokenize("ab abc cab") == ["ab", "a", "##b", "##c", "c", "##a", "##b"]
    assert tok.tokenize("HELLO2 NoLow nolow") == ["hello2", "NoLow", "[UNK]"]


def test_split_special_tokens(cls, tmp_path):
    tok = make(cls, tmp_path)
    assert tok.tokenize("[CLS] hello") == ["[CLS]", "hello"]
    tok = make(cls, tmp_path, split_special_tokens=True)
    assert tok.tokenize("[CLS] hello") == ["[", "cl", "##s", "]", "hello"]
    assert tok.init_kwargs["split_special_tokens"] is True


def test_token_id_setters(cls, tmp_path):
    tok = make(cls, tmp_path)
    tok.pad_token_id = 1
    assert tok.pad_token == "[UNK]" and tok.pad_token_id == 1
    tok.bos_token_id = 2
    assert tok.bos_token == "[CLS]"
    tok.pad_token_id = None
    assert tok.pad_token is None and tok.pad_token_id is None
    tok.additional_special_tokens_ids = [5]
    assert tok.additional_special_tokens == ["hello"]
    with pytest.raises(ValueError, match="int or None"):
        tok.mask_token_id = "4"


@pytest.mark.parametrize("reload_cls", CLASSES, ids=lambda c: c.__name__)
def test_save_and_reload_added_tokens(cls, reload_cls, tmp_path):
    tok = make(cls, tmp_path / "src" if (tmp_path / "src").mkdir() is None else None)
    tok.add_tokens(["aaaaa bbbbbb", AddedToken("NoLow", normalized=False)])
    tok.add_special_tokens({"additional_special_tokens": ["<ent>"]})
    text = "hello aaaaa bbbbbb NoLow <ent> world"
    expected = tok.encode(text)
    tok.save_pretrained(tmp_path / "out")
    assert json.loads((tmp_path / "out" / "added_tokens.json").read_text()) == {
        "aaaaa bbbbbb": BASE, "NoLow": BASE + 1, "<ent>": BASE + 2}
    config = json.loads((tmp_path / "out" / "tokenizer_config.json").read_text())
    assert config["added_tokens_decoder"][str(BASE + 1)] == {
        "content": "NoLow", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
        "special": False}
    assert config["additional_special_tokens"] == ["<ent>"]
    again = reload_cls.from_pretrained(tmp_path / "out")
    assert again.encode(text) == expected
    assert again.added_tokens_decoder == tok.added_tokens_decoder
    assert again.additional_special_tokens == ["<ent>"]
    # the legacy file alone (transformers' older layout) gives the same tokens
    (tmp_path / "out" / "tokenizer.json").unlink(missing_ok=True)
    del config["added_tokens_decoder"]
    (tmp_path / "out" / "tokenizer_config.json").write_text(json.dumps(config))
    legacy = reload_cls.from_pretrained(tmp_path / "out")
    assert legacy.encode(text) == expected
    assert legacy.convert_tokens_to_ids(legacy.tokenize(text)) == expected[1:-1]
    assert legacy.convert_ids_to_tokens(expected[2:4]) == ["aaaaa bbbbbb", "NoLow"]
    assert legacy.decode(expected, skip_special_tokens=True) == tok.decode(expected, skip_special_tokens=True)


def test_normalized_added_token_reads_back_as_stored(tmp_path):
    """A normalized added token with capitals on a lower-casing tokenizer (as transformers' fast add_tokens or an
    added_tokens.json leaves it) reads back as stored, as in transformers 4.57: tokenizers 0.23's id_to_token and
    decode give its normalized form, "mixed"."""
    tok = make(BertTokenizerFast, tmp_path)
    tok.backend_tokenizer.add_tokens([AddedToken("MiXed", normalized=True)])
    tok.add_special_tokens({"additional_special_tokens": ["<ent>"]})
    ids = tok.encode("hello MIXED <ent> lower")
    assert ids == [2, 5, BASE, BASE + 1, WORDS.index("low"), WORDS.index("##er"), 3]
    assert tok.convert_ids_to_tokens(ids[1:3]) == ["hello", "MiXed"] and tok.tokenize("mixed") == ["MiXed"]
    assert tok.decode(ids) == "[CLS] hello MiXed <ent> lower [SEP]"
    assert tok.decode(ids + [10**6], skip_special_tokens=True) == "hello MiXed lower"


def test_fast_decode_with_stored_names_equals_the_backend(tmp_path):
    """The decode path used when the backend renames an added token is tokenizers 0.22's own decode."""
    tok = make(BertTokenizerFast, tmp_path)
    tok.add_tokens(["aaaaa bbbbbb"])
    tok.add_special_tokens({"additional_special_tokens": ["<ent>"]})
    tok._names_key, tok._names = len(tok), {BASE: "aaaaa bbbbbb"}  # force the path (the names agree here)
    for ids in ([2, 5, BASE, 9, 11, BASE + 1, 19, 13, 16, 3, 0], [BASE, 10**6, 4, 12], [BASE]):
        for skip in (False, True):
            assert tok.decode(ids, skip_special_tokens=skip) == tok.backend_tokenizer.decode(ids, skip), (ids, skip)


def test_special_tokens_declared_only_in_config(cls, tmp_path):
    (tmp_path / "vocab.txt").write_text("".join(w + "\n" for w in WORDS), encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(
        {"additional_special_tokens": ["<ent>"], "mask_token": "<mask>", "do_lower_case": True}))
    tok = cls.from_pretrained(tmp_path)
    assert tok.mask_token_id == BASE and tok.convert_tokens_to_ids("<ent>") == BASE + 1
    assert tok.encode("<mask> hello <ent>", add_special_tokens=False) == [BASE, 5, BASE + 1]
    assert len(tok) == BASE + 2


def test_legacy_format(tmp_path):
    fast = BertTokenizerFast.from_pretrained(FIXTURES / "minilm-tokenizer")
    names = lambda folder: sorted(p.name for p in folder.iterdir())  # noqa: E731
    fast.save_pretrained(tmp_path / "new", legacy_format=False)
    assert names(tmp_path / "new") == ["special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]
    fast.save_pretrained(tmp_path / "old", legacy_format=True)
    assert names(tmp_path / "old") == ["special_tokens_map.json", "tokenizer_config.json", "vocab.txt"]
    slow = BertTokenizer.from_pretrained(FIXTURES / "minilm-tokenizer")
    with pytest.raises(ValueError, match="non-legacy"):
        slow.save_pretrained(tmp_path / "x", legacy_format=False)
    assert BertTokenizer.from_pretrained(tmp_path / "old").encode("Hello!") == fast.encode("Hello!")


def test_added_tokens_survive_pickle_and_deepcopy(cls, tmp_path):
    tok = make(cls, tmp_path)
    tok.add_tokens(["newtok"])
    tok.add_special_tokens({"additional_special_tokens": ["<e>"]})
    text = "hello newtok <e> world"
    for other in (pickle.loads(pickle.dumps(tok)), copy.deepcopy(tok)):
        assert other.encode(text) == tok.encode(text) == [2, 5, BASE, BASE + 1, 6, 3]
        assert other.added_tokens_decoder == tok.added_tokens_decoder


def test_special_tokens_given_as_added_tokens(cls, tmp_path):
    tok = make(cls, tmp_path, mask_token=AddedToken("[MASK]", lstrip=True),
               additional_special_tokens=[AddedToken("<ent>", rstrip=True)])
    assert tok.mask_token == "[MASK]" and isinstance(tok.mask_token, str) and tok.mask_token_id == 4
    assert tok.additional_special_tokens == ["<ent>"] and tok.convert_tokens_to_ids("<ent>") == BASE
    assert tok.added_tokens_decoder[4].lstrip and tok.added_tokens_decoder[BASE].rstrip
    assert tok.encode("hello [MASK] <ent> world", add_special_tokens=False) == [5, 4, BASE, 6]
