"""Differential test against transformers' tokenizers on generated text (needs transformers; skipped without).

Random strings mix ASCII, punctuation, every kind of whitespace and control character, combining marks, CJK,
Greek capital sigma, special-token text and over-long words; calls mix pairs, batches, truncation, padding and
overflow. Ours must give what transformers gives, or raise a ValueError where it raises.
"""

from __future__ import annotations

import logging
import random

import pytest

from bert_core import BertTokenizer, BertTokenizerFast
from tests.conftest import FIXTURES

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.bench_extra

FOLDER = FIXTURES / "minilm-tokenizer"
POOL = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") * 3 + [" "] * 25
        + list(".,;:!?'\"()[]{}#$%^&*-_=+/\\|<>`~@")
        + list("\t\n\r\x0b\x0c\x1c\x1f\x85\x00\ufffd\u2028\u3000\xa0\u200b\u200d\ue000\u0301\u0308éÉñΣσςİıßﬁ中文字")
        + ["\uf900", "が", "한", "😀", "🇺", "ｆ", "Å", "Ω", "Ⅻ", "½", "—", "“", "«", "¿", "€", "©"])
WORDS = ["[MASK]", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[cls]", "##ing", "hello", "running", "unaffable", "ΟΔΟΣ",
         "naïve", "x" * 120, "ab[MASK]cd", "don't", "U.S.A."]
KWARGS = [{}, {"add_special_tokens": False}, {"truncation": True, "max_length": 8},
          {"truncation": "only_first", "max_length": 9}, {"truncation": "longest_first", "max_length": 6},
          {"padding": "max_length", "max_length": 20, "truncation": True}, {"padding": True, "pad_to_multiple_of": 8},
          {"return_special_tokens_mask": True, "return_length": True},
          {"padding": "longest", "padding_side": "left"},
          {"truncation": "only_first", "max_length": 12, "stride": 2, "return_overflowing_tokens": True}]


def _text(rng: random.Random) -> str:
    parts = [rng.choice(WORDS) if rng.random() < 0.3 else "".join(rng.choices(POOL, k=rng.randint(1, 10)))
             for _ in range(rng.randint(0, 10))]
    return rng.choice(["", " "]).join(parts)


def _call(tok, *args, **kwargs):
    try:
        return "ok", dict(tok(*args, **kwargs))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - compared below; the Rust backend can panic (BaseException)
        return "error", exc


@pytest.fixture(scope="module")
def pairs():
    transformers.logging.set_verbosity_error()
    return {"slow": (BertTokenizer.from_pretrained(FOLDER), transformers.BertTokenizer.from_pretrained(FOLDER)),
            "fast": (BertTokenizerFast.from_pretrained(FOLDER),
                     transformers.BertTokenizerFast.from_pretrained(FOLDER))}


@pytest.mark.parametrize("side", ["slow", "fast"])
@pytest.mark.parametrize("seed", range(4))
def test_generated_text_matches_transformers(pairs, side, seed, caplog):
    caplog.set_level(logging.CRITICAL)
    ours, theirs = pairs[side]
    rng = random.Random(seed)
    for _ in range(40):
        text, pair = _text(rng), (_text(rng) if rng.random() < 0.4 else None)
        assert ours.tokenize(text) == theirs.tokenize(text), repr(text)
        for args in ((text, pair), ([text, _text(rng), _text(rng)],)):
            kwargs = rng.choice(KWARGS)
            got, want = _call(ours, *args, **kwargs), _call(theirs, *args, **kwargs)
            if want[0] == "error":
                assert got[0] == "error" and isinstance(got[1], ValueError), (args, kwargs, want[1])
            else:
                assert got == want, (args, kwargs)
        ids = theirs(text, pair)["input_ids"] + [rng.randrange(30522) for _ in range(3)]
        for skip in (False, True):
            assert ours.decode(ids, skip_special_tokens=skip) == theirs.decode(ids, skip_special_tokens=skip)
