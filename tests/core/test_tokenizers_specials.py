"""Special tokens a BERT vocabulary must hold, and special tokens declared only in the tokenizer files
(issue 11 item 8, issue 13): the slow and the fast tokenizer follow one rule."""

from __future__ import annotations

import pytest

from bert_core import BertTokenizer, BertTokenizerFast
from bert_core.tokenization.files import TokenizerFileError

CLASSES = (BertTokenizer, BertTokenizerFast)
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##s", ",", "!"]


def write_vocab(folder, words):
    path = folder / "vocab.txt"
    path.write_text("".join(w + "\n" for w in words), encoding="utf-8")
    return path


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("missing", [["[UNK]"], ["[CLS]", "[SEP]"]])
def test_vocab_without_required_specials_is_refused(cls, missing, tmp_path):
    path = write_vocab(tmp_path, [w for w in WORDS if w not in missing])
    with pytest.raises(ValueError) as info:
        cls(path)
    assert isinstance(info.value, TokenizerFileError)
    message = str(info.value)
    assert str(path) in message
    for token in missing:
        assert repr(token) in message
    with pytest.raises(ValueError, match="passed as vocab="):
        cls(vocab={w: i for i, w in enumerate(w for w in WORDS if w not in missing)})
    with pytest.raises(ValueError, match=str(tmp_path)):
        cls.from_pretrained(tmp_path)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_vocab_with_other_special_names_loads(cls, tmp_path):
    words = ["<pad>", "<unk>", "<s>", "</s>", "hello"]
    tok = cls(write_vocab(tmp_path, words), unk_token="<unk>", cls_token="<s>", sep_token="</s>",
              pad_token="<pad>", mask_token=None)
    assert tok("hello xyz")["input_ids"] == [2, 4, 1, 3]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_required_special_token_cannot_be_none(cls, tmp_path):
    with pytest.raises(ValueError, match="unk_token=None"):
        cls(write_vocab(tmp_path, WORDS), unk_token=None)


def test_tokenizer_json_without_unk_is_refused(tmp_path):
    import json

    fast = BertTokenizerFast(write_vocab(tmp_path, WORDS))
    fast.save_pretrained(tmp_path / "out")
    path = tmp_path / "out" / "tokenizer.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    del data["model"]["vocab"]["[UNK]"]
    data["added_tokens"] = [t for t in data["added_tokens"] if t["content"] != "[UNK]"]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="unk_token='\\[UNK\\]'") as info:
        BertTokenizerFast(tokenizer_file=path)
    assert str(path) in str(info.value)
