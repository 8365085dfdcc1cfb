"""Our tokenizers against what transformers 4.57.6 returned (tests/fixtures/tokenizer/tokenizer_cases.json).

BertTokenizer must equal transformers' slow BertTokenizer ("slow" side) and BertTokenizerFast its
BertTokenizerFast ("fast" side) on every case: ids, token types, attention mask, tokens, and for the fast one
offsets, sequence ids and word ids. Where transformers raised, ours raises a ValueError.
"""

from __future__ import annotations

import json

import pytest

from bert_core.tokenization.bert import BertTokenizer
from bert_core.tokenization.bert_fast import BertTokenizerFast
from tests.conftest import FIXTURES

CASES_FILE = FIXTURES / "tokenizer" / "tokenizer_cases.json"
VOCAB_FOLDER = FIXTURES / "minilm-tokenizer"
DATA = json.loads(CASES_FILE.read_text(encoding="utf-8"))
CASES = DATA["cases"]
SIDES = {"slow": BertTokenizer, "fast": BertTokenizerFast}
FIELDS = ("input_ids", "token_type_ids", "attention_mask")


@pytest.fixture(scope="module")
def tokenizers() -> dict:
    return {side: cls.from_pretrained(VOCAB_FOLDER) for side, cls in SIDES.items()}


def _none_to_minus_one(values: list) -> list:
    return [-1 if v is None else v for v in values]


def test_fixture_settings_are_the_folder_settings(tokenizers):
    settings = DATA["meta"]["settings"]
    for tok in tokenizers.values():
        assert tok.do_lower_case == settings["do_lower_case"]
        assert tok.tokenize_chinese_chars == settings["tokenize_chinese_chars"]
        assert tok.strip_accents == settings["strip_accents"]
        assert tok.model_max_length == settings["model_max_length"]
    assert len(CASES) == DATA["meta"]["n_cases"]


@pytest.mark.parametrize("side", sorted(SIDES))
@pytest.mark.parametrize("case", CASES, ids=[f"case{c['id']}" for c in CASES])
def test_parity(tokenizers, side, case):
    tok = tokenizers[side]
    expected = case[side]
    kwargs = dict(case["kwargs"])
    if side == "fast":
        kwargs["return_offsets_mapping"] = True
    if "error" in expected:
        with pytest.raises(ValueError):
            tok(case["text"], case.get("text_pair"), **kwargs)
        return
    enc = tok(case["text"], case.get("text_pair"), **kwargs)
    for field in FIELDS:
        assert enc[field] == expected[field], field
    assert tok.convert_ids_to_tokens(enc["input_ids"]) == expected["tokens"]
    if side == "fast":
        assert enc.tokens() == expected["tokens"]
        assert [list(o) for o in enc["offset_mapping"]] == expected["offsets"]
        assert _none_to_minus_one(enc.sequence_ids()) == expected["sequence_ids"]
        assert _none_to_minus_one(enc.word_ids()) == expected["word_ids"]


@pytest.mark.parametrize("side", sorted(SIDES))
def test_batch_parity(tokenizers, side):
    batch = DATA["batch"]
    enc = tokenizers[side](batch["texts"], **batch["kwargs"])
    for field in FIELDS:
        assert enc[field] == batch[side][field], field


@pytest.mark.parametrize("side", sorted(SIDES))
def test_batch_equals_single_calls(tokenizers, side):
    tok = tokenizers[side]
    texts = [c["text"] for c in CASES if "error" not in c[side] and not c["kwargs"].get("truncation")][:40]
    batch = tok(texts)
    for text, ids in zip(texts, batch["input_ids"]):
        assert ids == tok(text)["input_ids"]
