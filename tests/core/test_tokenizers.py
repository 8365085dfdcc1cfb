"""BertTokenizer / BertTokenizerFast: API, options, files and errors (parity with transformers is in
test_tokenizers_parity.py)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from bert_core import BatchEncoding, BertTokenizer, BertTokenizerFast
from bert_core.tokenization.files import TokenizerFileError
from tests.conftest import FIXTURES

FOLDER = FIXTURES / "minilm-tokenizer"
CLASSES = (BertTokenizer, BertTokenizerFast)
TEXTS = ["Hello, world!", "The quick brown fox jumps over the lazy dog.", "naïve café", "你好", ""]


@pytest.fixture(scope="module", params=CLASSES, ids=lambda c: c.__name__)
def tok(request):
    return request.param.from_pretrained(FOLDER)


@pytest.fixture(scope="module")
def both():
    return [cls.from_pretrained(FOLDER) for cls in CLASSES]


def test_special_tokens_and_sizes(tok):
    assert (tok.cls_token, tok.sep_token, tok.pad_token, tok.unk_token, tok.mask_token) == \
        ("[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]")
    assert (tok.cls_token_id, tok.sep_token_id, tok.pad_token_id, tok.unk_token_id, tok.mask_token_id) == \
        (101, 102, 0, 100, 103)
    assert tok.bos_token_id is None and tok.eos_token_id is None
    assert tok.all_special_tokens == ["[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"]
    assert tok.all_special_ids == [100, 102, 0, 101, 103]
    assert tok.vocab_size == 30522 and len(tok) == 30522
    assert tok.model_max_length == 512
    assert "vocab_size=30522" in repr(tok) and type(tok).__name__ in repr(tok)


def test_token_id_conversion(tok):
    assert tok.convert_tokens_to_ids("hello") == 7592
    assert tok.convert_tokens_to_ids(["hello", "not-a-token"]) == [7592, 100]
    assert tok.convert_ids_to_tokens(7592) == "hello"
    assert tok.convert_ids_to_tokens([101, 7592, 102], skip_special_tokens=True) == ["hello"]
    assert tok.tokenize("unaffable tokenization") == ["una", "##ffa", "##ble", "token", "##ization"]


def test_special_token_helpers(tok):
    assert tok.build_inputs_with_special_tokens([5, 6]) == [101, 5, 6, 102]
    assert tok.build_inputs_with_special_tokens([5], [7, 8]) == [101, 5, 102, 7, 8, 102]
    assert tok.create_token_type_ids_from_sequences([5], [7, 8]) == [0, 0, 0, 1, 1, 1]
    assert tok.get_special_tokens_mask([5], [7, 8]) == [1, 0, 1, 0, 0, 1]
    assert tok.get_special_tokens_mask([101, 5, 102], already_has_special_tokens=True) == [1, 0, 1]
    assert tok.num_special_tokens_to_add() == 2 and tok.num_special_tokens_to_add(pair=True) == 3


def test_single_pair_and_batch_shapes(tok):
    one = tok("Hello, world!")
    assert isinstance(one, BatchEncoding) and one.input_ids == one["input_ids"] == [101, 7592, 1010, 2088, 999, 102]
    assert set(one) == {"input_ids", "token_type_ids", "attention_mask"}
    pair = tok("Hello", "world")
    assert pair.input_ids == [101, 7592, 102, 2088, 102] and pair.token_type_ids == [0, 0, 0, 1, 1]
    batch = tok(["Hello", "big world"], ["a", "b"])
    assert batch.input_ids == [[101, 7592, 102, 1037, 102], [101, 2502, 2088, 102, 1038, 102]]
    assert tok.encode("Hello") == [101, 7592, 102]
    assert tok([]).data == {"input_ids": [], "token_type_ids": [], "attention_mask": []}
    with pytest.raises(AttributeError, match="no field"):
        one.offsets


@pytest.mark.parametrize("padding", [True, "longest", "max_length"])
def test_padding(tok, padding):
    enc = tok(["a", "a b c"], padding=padding, max_length=8 if padding == "max_length" else None)
    width = 8 if padding == "max_length" else 5
    assert [len(r) for r in enc.input_ids] == [width, width]
    assert enc.input_ids[0][:3] == [101, 1037, 102] and set(enc.input_ids[0][3:]) == {0}
    assert enc.attention_mask[0] == [1, 1, 1] + [0] * (width - 3)
    left = tok(["a", "a b c"], padding=padding, padding_side="left", pad_to_multiple_of=4,
               max_length=8 if padding == "max_length" else None)
    assert left.input_ids[0][-3:] == [101, 1037, 102] and len(left.input_ids[0]) == 8
    assert left.attention_mask[0][:5] == [0] * 5


def test_truncation_strategies(tok):
    text = " ".join(["word"] * 30)
    pair = " ".join(["other"] * 5)
    assert len(tok(text, truncation=True, max_length=10).input_ids) == 10
    assert tok(text, max_length=10).input_ids[-1] == 102  # max_length alone means longest_first
    only_first = tok(text, pair, truncation="only_first", max_length=12).input_ids
    assert only_first.count(2060) == 5 and len(only_first) == 12
    assert len(tok(text, truncation=True).input_ids) == 32  # nothing to cut below model_max_length
    long = " ".join(["word"] * 600)
    assert len(tok(long, truncation=True).input_ids) == 512


def test_overflow_and_masks(both):
    slow, fast = both
    text = " ".join(["word"] * 10)
    enc = slow(text, truncation=True, max_length=6, stride=1, return_overflowing_tokens=True)
    assert enc.input_ids == [101] + [2773] * 4 + [102]
    assert enc.overflowing_tokens == [2773] * 7 and enc.num_truncated_tokens == 6
    enc = fast(text, truncation=True, max_length=6, stride=1, return_overflowing_tokens=True)
    assert len(enc.input_ids) == 3 and enc.overflow_to_sample_mapping == [0, 0, 0]
    for t in both:
        enc = t("a b", return_special_tokens_mask=True, return_length=True)
        assert enc.special_tokens_mask == [1, 0, 0, 1]
        assert enc.length in (4, [4])  # transformers' fast tokenizer keeps a list here


def test_return_options(tok):
    enc = tok("a b", return_token_type_ids=False, return_attention_mask=False)
    assert set(enc) == {"input_ids"}
    enc = tok("a b", add_special_tokens=False)
    assert enc.input_ids == [1037, 1038]


@pytest.mark.parametrize("return_tensors", ["np", "pt"])
def test_return_tensors(tok, return_tensors):
    if return_tensors == "pt":
        torch = pytest.importorskip("torch")
    enc = tok(TEXTS, padding=True, return_tensors=return_tensors)
    ids = np.asarray(enc.input_ids)
    assert ids.shape == (5, 12) and ids.dtype == np.int64
    if return_tensors == "pt":
        assert isinstance(enc.input_ids, torch.Tensor) and enc.input_ids.dtype == torch.int64
    single = tok("Hello", return_tensors=return_tensors)
    assert tuple(single.input_ids.shape) == (1, 3)
    assert "ndarray" in repr(enc) or "Tensor" in repr(enc)


@pytest.mark.parametrize("framework", ["tf", "jax"])
def test_return_tensors_tf_jax(framework):
    module = pytest.importorskip("tensorflow" if framework == "tf" else "jax")
    enc = BertTokenizer.from_pretrained(FOLDER)(["a", "a b"], padding=True, return_tensors=framework)
    assert tuple(enc.input_ids.shape) == (2, 4) and np.asarray(enc.attention_mask).tolist()[0] == [1, 1, 1, 0]
    assert "int32" in str(enc.input_ids.dtype)  # as transformers' TF / JAX outputs (JAX without x64)
    assert module.__name__ in type(enc.input_ids).__module__ or framework == "jax"


def test_ragged_tensors_fail_clearly(tok):
    with pytest.raises(ValueError, match="padding=True"):
        tok(["a", "a b"], return_tensors="np")
    with pytest.raises(ValueError, match="return_tensors"):
        tok("a", return_tensors="xla")


@pytest.mark.parametrize("bad", [dict(padding="sideways"), dict(truncation="middle"), dict(max_length=-1),
                                 dict(padding_side="up"), dict(stride=-1)])
def test_bad_options(tok, bad):
    with pytest.raises(ValueError):
        tok("a b", **bad)


def test_bad_inputs(tok):
    with pytest.raises(ValueError, match="text must be"):
        tok(5)
    with pytest.raises(ValueError, match="same length"):
        tok(["a", "b"], ["c"])
    with pytest.raises(ValueError):
        tok("a", ["b"])


def test_decode(both):
    for t in both:
        ids = t("I can't believe it's a naïve test, isn't it?").input_ids
        assert t.decode(ids) == "[CLS] i can't believe it's a naive test, isn't it? [SEP]"
        assert t.decode(ids, skip_special_tokens=True) == "i can't believe it's a naive test, isn't it?"
        raw = t.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        # transformers' fast decoder always cleans ", ." itself; the slow one leaves every space
        assert raw == ("i can ' t believe it ' s a naive test, isn ' t it?" if t.is_fast
                       else "i can ' t believe it ' s a naive test , isn ' t it ?")
        assert t.batch_decode([ids, t("unaffable").input_ids], skip_special_tokens=True)[1] == "unaffable"
        assert t.decode(np.asarray(ids)) == t.decode(ids)


@pytest.mark.parametrize("text", ["ΟΔΟΣ ΣΑΣ", "İstanbul", "a\u0301\u0308 x", "\uf900 中文", "ﬁne ½", "x" * 101,
                                  "ab[MASK]cd [cls]", "tab\tand\x0bvt\x1cfs\u2028ls", "\x00\ufffd\ue000"])
def test_slow_equals_fast_on_tricky_text(both, text):
    slow, fast = both
    assert slow.tokenize(text) == fast.tokenize(text)
    assert slow(text).input_ids == fast(text).input_ids


def test_fast_features(both):
    slow, fast = both
    enc = fast(["Hello world", "hi"], return_offsets_mapping=True, padding=True)
    assert enc.offset_mapping[0] == [(0, 0), (0, 5), (6, 11), (0, 0)]
    assert enc.tokens(0) == ["[CLS]", "hello", "world", "[SEP]"] and enc.word_ids(1)[1] == 0
    assert enc.sequence_ids(0) == [None, 0, 0, None]
    assert fast.tokenize("a", "b", add_special_tokens=True) == ["[CLS]", "a", "[SEP]", "b", "[SEP]"]
    with pytest.raises(ValueError, match="no token alignment"):
        slow.pad({"input_ids": [[1, 2]]}).tokens()


def test_pad_method(tok):
    rows = [tok("a").data, tok("a b c").data]
    padded = tok.pad(rows, return_tensors="np")
    assert padded.input_ids.shape == (2, 5) and padded.attention_mask[0].tolist() == [1, 1, 1, 0, 0]
    single = tok.pad({"input_ids": [101, 102]}, padding="max_length", max_length=4)
    assert single.input_ids == [101, 102, 0, 0] and single.attention_mask == [1, 1, 0, 0]


def test_options(tmp_path):
    vocab = FOLDER / "vocab.txt"
    for cls in CLASSES:
        cased = cls(vocab, do_lower_case=False)
        assert cased.tokenize("Hello") == ["[UNK]"]
        keep = cls(vocab, strip_accents=False)
        assert keep.tokenize("café") != cls(vocab).tokenize("café")
        no_cjk = cls(vocab, tokenize_chinese_chars=False)
        assert no_cjk.tokenize("中文") == ["中", "##文"] and cls(vocab).tokenize("中文") == ["中", "文"]
    assert BertTokenizer(vocab, never_split=["[FOO]"], do_lower_case=False).tokenize("a [FOO]") == ["a", "[FOO]"]
    assert BertTokenizer(vocab, do_basic_tokenize=False).tokenize("hello,world") == ["hello", "##,", "##world"]
    assert BertTokenizer(vocab=BertTokenizer(vocab).vocab).vocab_size == 30522


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_save_and_reload(cls, tmp_path):
    tok = cls.from_pretrained(FOLDER)
    written = tok.save_pretrained(tmp_path / "out")
    names = sorted(p.rsplit("/", 1)[-1] for p in written)
    expected = ["special_tokens_map.json", "tokenizer_config.json", "vocab.txt"]
    assert names == (sorted(expected + ["tokenizer.json"]) if cls is BertTokenizerFast else expected)
    assert (tmp_path / "out" / "vocab.txt").read_bytes() == (FOLDER / "vocab.txt").read_bytes()
    config = json.loads((tmp_path / "out" / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "BertTokenizer" and config["do_lower_case"] is True
    assert config["model_max_length"] == 512 and config["added_tokens_decoder"]["103"]["content"] == "[MASK]"
    assert json.loads((tmp_path / "out" / "special_tokens_map.json").read_text())["cls_token"] == "[CLS]"
    again = cls.from_pretrained(tmp_path / "out")
    assert again(TEXTS).input_ids == tok(TEXTS).input_ids and repr(again).startswith(cls.__name__)
    if cls is BertTokenizerFast:  # a tokenizer.json alone is enough, and the slow one reads the fast's folder
        (tmp_path / "out" / "vocab.txt").unlink()
        assert BertTokenizerFast.from_pretrained(tmp_path / "out")(TEXTS).input_ids == tok(TEXTS).input_ids
        with pytest.raises(TokenizerFileError, match="vocab.txt"):
            BertTokenizer.from_pretrained(tmp_path / "out")


def test_save_is_atomic(tmp_path, monkeypatch):
    tok = BertTokenizer.from_pretrained(FOLDER)
    out = tmp_path / "out"
    out.mkdir()
    (out / "tokenizer_config.json").write_text("{}")

    def broken(folder, legacy_format=None):
        raise OSError("disk full")
    monkeypatch.setattr(tok, "_write_files", broken)
    with pytest.raises(OSError, match="disk full"):
        tok.save_pretrained(out)
    assert sorted(p.name for p in out.iterdir()) == ["tokenizer_config.json"]
    assert (out / "tokenizer_config.json").read_text() == "{}"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_file_errors(cls, tmp_path):
    with pytest.raises(TokenizerFileError, match="neither a folder nor a file"):
        cls.from_pretrained(tmp_path / "missing")
    with pytest.raises(TokenizerFileError):  # an empty folder: no vocabulary
        cls.from_pretrained(tmp_path)
    with pytest.raises(TokenizerFileError, match="vocabulary"):
        cls()
    folder = tmp_path / "model"
    shutil.copytree(FOLDER, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(dict(config, vocab_size=30000)))
    with pytest.raises(TokenizerFileError, match="vocab_size=30000"):
        cls.from_pretrained(folder)
    assert cls.from_pretrained(folder, check_vocab_size=False).vocab_size == 30522
    (folder / "tokenizer_config.json").write_text("{not json")
    with pytest.raises(TokenizerFileError, match="not valid JSON"):
        cls.from_pretrained(folder, check_vocab_size=False)


def test_corrupt_tokenizer_json(tmp_path):
    tok = BertTokenizerFast.from_pretrained(FOLDER)
    tok.save_pretrained(tmp_path)
    (tmp_path / "tokenizer.json").write_text((tmp_path / "tokenizer.json").read_text()[:1000])
    with pytest.raises(TokenizerFileError, match="truncated"):
        BertTokenizerFast.from_pretrained(tmp_path)


def test_fast_errors_are_value_errors():
    fast = BertTokenizerFast.from_pretrained(FOLDER)
    long = " ".join(["word"] * 40)
    with pytest.raises(ValueError, match="longest_first"):
        fast(long, long, truncation="only_second", max_length=16)
    with pytest.raises(ValueError, match="stride"):
        fast(long, truncation=True, max_length=5, stride=4, return_overflowing_tokens=True)


def test_long_input_warns_once(caplog):
    tok = BertTokenizer.from_pretrained(FOLDER)
    with caplog.at_level("WARNING"):
        tok(" ".join(["word"] * 600))
        tok(" ".join(["word"] * 600))
    assert sum("longer than the specified maximum" in r.message for r in caplog.records) == 1
