"""The framework-free pre-training data pipeline (bert_core.data): pairs, truncation, masking, streaming."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest

from bert_core.data import (IGNORE_INDEX, MaskingConfig, PretrainingExamples, TokenizedDocument, batches,
                            iter_instances, mask_tokens, read_documents, truncate_seq_pair, truncated_lengths)
from tests.conftest import FIXTURES

TOKENIZER_FOLDER = FIXTURES / "minilm-tokenizer"


class StubTokenizer:
    """A small uncased WordPiece tokenizer over the fixture vocabulary (used when bert_core has none yet)."""

    def __init__(self, vocab_file) -> None:
        tokens = vocab_file.read_text(encoding="utf-8").splitlines()
        self.vocab = {t: i for i, t in enumerate(tokens)}
        self.vocab_size = len(tokens)
        self.cls_token_id, self.sep_token_id = self.vocab["[CLS]"], self.vocab["[SEP]"]
        self.mask_token_id, self.pad_token_id, self.unk_token_id = (self.vocab["[MASK]"], self.vocab["[PAD]"],
                                                                    self.vocab["[UNK]"])

    def tokenize(self, text: str) -> list[str]:
        out: list[str] = []
        for word in re.findall(r"\w+|[^\w\s]", text.lower()):
            start, pieces = 0, []
            while start < len(word):
                end = len(word)
                while end > start and (("##" if start else "") + word[start:end]) not in self.vocab:
                    end -= 1
                if end == start:
                    pieces = ["[UNK]"]
                    break
                pieces.append(("##" if start else "") + word[start:end])
                start = end
            out.extend(pieces)
        return out

    def convert_tokens_to_ids(self, tokens: list[str]) -> list[int]:
        return [self.vocab.get(t, self.unk_token_id) for t in tokens]


@pytest.fixture(scope="module", params=["bert_core", "stub"])
def tokenizer(request):
    """bert_core.BertTokenizer on the MiniLM vocabulary (skipped while it does not exist), and the stub above."""
    if request.param == "stub":
        return StubTokenizer(TOKENIZER_FOLDER / "vocab.txt")
    try:
        from bert_core import BertTokenizer  # noqa: PLC0415
    except ImportError:
        pytest.skip("bert_core.BertTokenizer is not available")
    return BertTokenizer.from_pretrained(str(TOKENIZER_FOLDER))


def _words(seed: int = 0) -> list[str]:
    """English-looking words from the vocabulary, some glued in pairs so that they split into ## pieces."""
    vocab = (TOKENIZER_FOLDER / "vocab.txt").read_text(encoding="utf-8").splitlines()
    plain = [t for t in vocab[2000:] if t.isascii() and t.isalpha() and len(t) >= 4]
    rng = np.random.default_rng(seed)
    picked = [plain[i] for i in rng.choice(len(plain), 1500, replace=False)]
    glued = [picked[i] + picked[i + 1] for i in range(0, 500, 2)]
    return picked + glued


def write_corpus(folder, n_files: int = 4, docs_per_file: int = 25, seed: int = 0) -> list:
    """Files of documents (3-12 sentences of 4-14 words) in the one-sentence-a-line, blank-line format."""
    rng = np.random.default_rng(seed)
    words = _words(seed)
    paths = []
    for f in range(n_files):
        docs = []
        for _ in range(docs_per_file):
            sentences = [" ".join(words[j] for j in rng.integers(0, len(words), rng.integers(4, 15))).capitalize()
                         + "." for _ in range(rng.integers(3, 13))]
            docs.append("\n".join(sentences))
        path = folder / f"part-{f:03d}.txt"
        path.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


def originals(example: dict[str, np.ndarray]) -> np.ndarray:
    """The ids before masking: labels where a position is predicted, input_ids elsewhere."""
    return np.where(example["labels"] != IGNORE_INDEX, example["labels"], example["input_ids"])


def synthetic_document(doc: int, n_sentences: int, rng: np.random.Generator, lengths=(3, 20)) -> TokenizedDocument:
    """A document whose ids encode where they come from: doc * 100000 + sentence * 100 + position."""
    sizes = rng.integers(lengths[0], lengths[1] + 1, n_sentences)
    ids = np.concatenate([doc * 100000 + s * 100 + np.arange(k) for s, k in enumerate(sizes)]).astype(np.int32)
    return TokenizedDocument(ids, np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))


# ---- truncation ------------------------------------------------------------------------------------------------


def google_truncated_lengths(la: int, lb: int, max_num_tokens: int) -> tuple[int, int]:
    while la + lb > max_num_tokens:
        if la > lb:
            la -= 1
        else:
            lb -= 1
    return la, lb


def test_truncated_lengths_match_googles_loop():
    for m in (2, 3, 7, 125):
        for la in range(1, 140, 3):
            for lb in range(1, 140, 5):
                assert truncated_lengths(la, lb, m) == google_truncated_lengths(la, lb, m), (la, lb, m)


def test_truncate_seq_pair_keeps_contiguous_slices_within_length():
    rng = np.random.default_rng(0)
    fronts = 0
    for _ in range(200):
        a, b = np.arange(rng.integers(1, 300)), 1000 + np.arange(rng.integers(1, 300))
        ta, tb = truncate_seq_pair(a, b, 125, rng)
        assert len(ta) + len(tb) <= 125 and len(ta) >= 1 and len(tb) >= 1
        for t, full in ((ta, a), (tb, b)):
            assert np.array_equal(t, full[t[0] - full[0]:t[0] - full[0] + len(t)])
        fronts += int(ta[0] != 0) + int(tb[0] != 1000)
    assert fronts > 50  # tokens are removed from the front too, not only the back


# ---- pairs and next sentence prediction -------------------------------------------------------------------------


def test_pairs_fit_and_random_segments_come_from_other_documents():
    rng = np.random.default_rng(1)
    docs = [synthetic_document(d, int(rng.integers(5, 40)), rng) for d in range(120)]
    instances = list(iter_instances(docs, np.random.default_rng(0), max_num_tokens=61, short_seq_prob=0.1,
                                    window=20))
    assert len(instances) > 500
    for inst in instances:
        assert 1 <= len(inst.tokens_a) and 1 <= len(inst.tokens_b) and len(inst.tokens_a) + len(inst.tokens_b) <= 61
        doc_a = set(inst.tokens_a // 100000)
        doc_b = set(inst.tokens_b // 100000)
        assert len(doc_a) == 1 and len(doc_b) == 1
        if inst.is_random_next:
            assert doc_a != doc_b
            assert abs(doc_a.pop() - doc_b.pop()) < 20  # drawn from the bounded window
        else:
            assert doc_a == doc_b
            assert inst.tokens_b.min() // 100 > inst.tokens_a.max() // 100  # B's sentences follow A's
    random_fraction = np.mean([inst.is_random_next for inst in instances])
    assert 0.45 < random_fraction < 0.6  # 50%, plus the one-sentence chunks that must take a random B


def test_unused_segments_are_put_back():
    rng = np.random.default_rng(2)
    docs = [synthetic_document(d, int(rng.integers(2, 8)), rng, lengths=(1, 5)) for d in range(30)]
    # Always a random B, and documents far shorter than the target: no truncation, A's must tile each document.
    instances = list(iter_instances(docs, np.random.default_rng(0), max_num_tokens=200, short_seq_prob=0.0,
                                    nsp_probability=1.0, window=30))
    for d, doc in enumerate(docs):
        a_parts = [inst.tokens_a for inst in instances if inst.tokens_a[0] // 100000 == d]
        assert np.array_equal(np.concatenate(a_parts), doc.ids)
    # Never random: A + B is the whole (short) document.
    instances = list(iter_instances(docs, np.random.default_rng(0), max_num_tokens=200, short_seq_prob=0.0,
                                    nsp_probability=0.0, window=30))
    assert not any(inst.is_random_next for inst in instances)
    assert [np.concatenate([i.tokens_a, i.tokens_b]).tolist() for i in instances] == [d.ids.tolist() for d in docs]


def test_document_window_is_bounded():
    pulled = []

    def documents() -> Iterator[TokenizedDocument]:
        rng = np.random.default_rng(3)
        for d in range(100):
            pulled.append(d)
            yield synthetic_document(d, 6, rng)

    stream = iter_instances(documents(), np.random.default_rng(0), max_num_tokens=30, window=8)
    next(stream)
    assert len(pulled) == 5  # the first document plus window // 2 read ahead
    for inst in stream:
        assert len(pulled) - 1 - inst.tokens_a[0] // 100000 <= 4


# ---- masking ----------------------------------------------------------------------------------------------------


def test_masking_rate_and_80_10_10_split():
    rng = np.random.default_rng(0)
    config = MaskingConfig(mask_token_id=103, vocab_size=30522, masked_lm_prob=0.15, max_predictions_per_seq=80)
    tokens = predicted = as_mask = unchanged = 0
    for _ in range(3000):
        ids = rng.integers(1000, 30000, 128).astype(np.int32)
        special = np.zeros(128, bool)
        special[[0, 60, 127]] = True
        masked, labels = mask_tokens(ids, special, 128, config, rng)
        chosen = labels != IGNORE_INDEX
        assert not chosen[special].any()
        assert np.array_equal(labels[chosen], ids[chosen]) and np.array_equal(masked[~chosen], ids[~chosen])
        tokens += 128
        predicted += chosen.sum()
        as_mask += (masked[chosen] == 103).sum()
        unchanged += (masked[chosen] == ids[chosen]).sum()
    assert abs(predicted / tokens - 0.15) < 0.005
    assert abs(as_mask / predicted - 0.8) < 0.01
    assert abs(unchanged / predicted - 0.1) < 0.01
    assert abs((predicted - as_mask - unchanged) / predicted - 0.1) < 0.01


def test_max_predictions_per_seq_is_a_cap():
    rng = np.random.default_rng(0)
    config = MaskingConfig(mask_token_id=103, vocab_size=1000, masked_lm_prob=0.5, max_predictions_per_seq=5)
    for n in (5, 20, 128):
        ids = np.arange(n, dtype=np.int32) + 200
        special = np.zeros(n, bool)
        special[[0, n - 1]] = True
        _, labels = mask_tokens(ids, special, n, config, rng)
        assert (labels != IGNORE_INDEX).sum() == min(5, max(1, round(n * 0.5)), n - 2)


def test_whole_word_masking_takes_every_piece():
    rng = np.random.default_rng(0)
    table = np.zeros(1000, bool)
    table[500:] = True  # ids >= 500 are "##" pieces
    config = MaskingConfig(mask_token_id=103, vocab_size=1000, masked_lm_prob=0.15, max_predictions_per_seq=20,
                           subword_table=table)
    multi_piece_words_masked = 0
    for _ in range(300):
        ids = np.where(rng.random(128) < 0.4, rng.integers(500, 1000, 128), rng.integers(200, 500, 128))
        ids = ids.astype(np.int32)
        special = np.zeros(128, bool)
        special[[0, 70, 127]] = True
        _, labels = mask_tokens(ids, special, 128, config, rng)
        chosen = labels != IGNORE_INDEX
        assert 0 < chosen.sum() <= 20
        for i in np.flatnonzero(chosen):
            if i + 1 < 128 and not special[i + 1] and table[ids[i + 1]]:
                assert chosen[i + 1]
                multi_piece_words_masked += 1
            if table[ids[i]] and not special[i - 1]:
                assert chosen[i - 1]
    assert multi_piece_words_masked > 100


# ---- the pipeline -----------------------------------------------------------------------------------------------


def test_examples_are_deterministic_for_a_seed(corpus, tokenizer):
    def take(seed, epoch=0, n=40):
        it = PretrainingExamples(corpus, tokenizer, max_seq_length=64, seed=seed, shuffle_buffer_size=50).epoch(epoch)
        return [next(it) for _ in range(n)]

    first, again, other = take(0), take(0), take(1)
    for x, y in zip(first, again):
        assert all(np.array_equal(x[k], y[k]) for k in x)
    assert any(not np.array_equal(x["input_ids"], y["input_ids"]) for x, y in zip(first, other))
    assert any(not np.array_equal(x["input_ids"], y["input_ids"]) for x, y in zip(first, take(0, epoch=1)))


def test_epochs_keep_pairs_and_redraw_masks(corpus, tokenizer):
    examples = PretrainingExamples(corpus[:1], tokenizer, max_seq_length=64, shuffle_buffer_size=0)
    e0, e1 = list(examples.epoch(0)), list(examples.epoch(1))
    assert len(e0) == len(e1) > 10
    assert all(np.array_equal(originals(x), originals(y)) for x, y in zip(e0, e1))
    assert sum(not np.array_equal(x["labels"], y["labels"]) for x, y in zip(e0, e1)) > len(e0) // 2


def test_example_layout_and_padding(corpus, tokenizer):
    length = 64
    examples = list(PretrainingExamples(corpus[:2], tokenizer, max_seq_length=length, short_seq_prob=0.3))
    specials = {tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id}
    short = 0
    for ex in examples:
        assert set(ex) == {"input_ids", "token_type_ids", "attention_mask", "labels", "next_sentence_label"}
        assert all(v.dtype == np.int32 for v in ex.values())
        assert ex["next_sentence_label"].shape == () and int(ex["next_sentence_label"]) in (0, 1)
        for key in ("input_ids", "token_type_ids", "attention_mask", "labels"):
            assert ex[key].shape == (length,)
        n = int(ex["attention_mask"].sum())
        short += n < length - 10
        assert np.array_equal(ex["attention_mask"], np.arange(length) < n)
        ids = originals(ex)
        assert ids[0] == tokenizer.cls_token_id and ids[n - 1] == tokenizer.sep_token_id
        assert (ids[n:] == tokenizer.pad_token_id).all() and (ex["input_ids"][n:] == tokenizer.pad_token_id).all()
        seps = np.flatnonzero(ids[:n] == tokenizer.sep_token_id)
        assert len(seps) == 2 and seps[0] >= 2 and seps[1] - seps[0] >= 2
        assert ex["token_type_ids"].tolist() == [0] * (seps[0] + 1) + [1] * (n - seps[0] - 1) + [0] * (length - n)
        assert not set(ids[1:seps[0]].tolist()) & specials
        positions = ex["labels"] != IGNORE_INDEX
        assert not positions[[0, seps[0], n - 1]].any() and not positions[n:].any()  # special tokens never masked
        assert positions.sum() >= 1 and (ex["input_ids"] != ids).sum() <= positions.sum()
        assert not (ex["input_ids"] != ids)[~positions].any()  # labels are -100 wherever nothing was masked
    assert short > 0 and len(examples) > 50


def test_pipeline_masking_rate_and_nsp_balance(corpus, tokenizer):
    examples = list(PretrainingExamples(corpus, tokenizer, max_seq_length=128, seed=3))
    real = sum(int(ex["attention_mask"].sum()) for ex in examples)
    predicted = [int((ex["labels"] != IGNORE_INDEX).sum()) for ex in examples]
    assert abs(sum(predicted) / real - 0.15) < 0.01
    masked = sum(int((ex["input_ids"] == tokenizer.mask_token_id).sum()) for ex in examples)
    assert abs(masked / sum(predicted) - 0.8) < 0.04
    nsp = np.mean([int(ex["next_sentence_label"]) for ex in examples])
    assert 0.4 < nsp < 0.65


def test_pipeline_max_predictions_and_whole_words(corpus, tokenizer):
    examples = PretrainingExamples(corpus[:2], tokenizer, max_seq_length=128, masked_lm_prob=0.3,
                                   max_predictions_per_seq=12, whole_word_mask=True)
    vocab = {i: t for t, i in examples.tokenizer.vocab.items()}
    whole = 0
    for ex in examples:
        ids, chosen = originals(ex), ex["labels"] != IGNORE_INDEX
        assert 1 <= chosen.sum() <= 12
        n = int(ex["attention_mask"].sum())
        for i in np.flatnonzero(chosen):
            if i + 1 < n and vocab[int(ids[i + 1])].startswith("##"):
                assert chosen[i + 1]
                whole += 1
            if vocab[int(ids[i])].startswith("##"):
                assert chosen[i - 1]
    assert whole > 20


def test_long_sentences_are_truncated_to_fit(tmp_path, tokenizer):
    words = _words(1)
    rng = np.random.default_rng(4)
    docs = ["\n".join(" ".join(words[j] for j in rng.integers(0, len(words), int(n))) + "."
                       for n in rng.integers(1, 300, 6)) for _ in range(12)]
    (tmp_path / "long.txt").write_text("\n\n".join(docs), encoding="utf-8")
    examples = list(PretrainingExamples(tmp_path / "long.txt", tokenizer, max_seq_length=32, document_window=4))
    assert len(examples) >= 12
    for ex in examples:
        ids = originals(ex)
        seps = np.flatnonzero(ids == tokenizer.sep_token_id)
        assert len(seps) == 2 and seps[0] >= 2 and seps[1] - seps[0] >= 2 and seps[1] <= 31
    assert sum(int(ex["attention_mask"].sum()) == 32 for ex in examples) > len(examples) // 2


def test_streams_a_generator_of_many_files(tmp_path, tokenizer):
    paths = write_corpus(tmp_path, n_files=60, docs_per_file=2, seed=5)
    opened = []

    def lazily():
        for p in paths:
            opened.append(p)
            yield p

    examples = PretrainingExamples(lazily(), tokenizer, max_seq_length=64, document_window=6,
                                   shuffle_buffer_size=4)
    stream = iter(examples)
    next(stream)
    assert len(opened) < 10  # the first example came long before the input was consumed
    assert sum(1 for _ in stream) > 100 and len(opened) == 60
    with pytest.raises(RuntimeError, match="one-shot iterator"):
        next(examples.epoch(1))


def test_from_documents_matches_files(corpus, tokenizer):
    docs = list(read_documents(corpus[:1]))
    a = list(PretrainingExamples(corpus[:1], tokenizer, max_seq_length=64))
    b = list(PretrainingExamples.from_documents(docs, tokenizer, max_seq_length=64))
    assert len(a) == len(b) and all(np.array_equal(x["input_ids"], y["input_ids"]) for x, y in zip(a, b))


def test_batches_stack_and_drop_remainder(corpus, tokenizer):
    examples = list(PretrainingExamples(corpus[:1], tokenizer, max_seq_length=32))
    full = list(batches(examples, 8))
    assert [len(b["input_ids"]) for b in full] == [8] * (len(examples) // 8) + ([len(examples) % 8] if len(
        examples) % 8 else [])
    assert full[0]["input_ids"].shape == (8, 32) and full[0]["next_sentence_label"].shape == (8,)
    assert full[0]["input_ids"].dtype == np.int32
    assert all(len(b["input_ids"]) == 8 for b in batches(examples, 8, drop_remainder=True))
    with pytest.raises(ValueError, match="batch_size"):
        next(batches(examples, 0))


def test_reading_documents(tmp_path):
    (tmp_path / "a.txt").write_text("One.\nTwo.\n\n  \n\nThree.\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("Four.\nFive.\nSix.\n", encoding="utf-8")
    files = [tmp_path / "a.txt", tmp_path / "b.txt"]
    assert list(read_documents(files)) == [["One.", "Two."], ["Three."], ["Four.", "Five.", "Six."]]
    assert list(read_documents(files[1:], max_document_sentences=2)) == [["Four.", "Five."], ["Six."]]
    (tmp_path / "bad.txt").write_bytes(b"ok\n\xff\xfe bad\n")
    with pytest.raises(ValueError, match="bad.txt"):
        list(read_documents([tmp_path / "bad.txt"]))


def test_bad_settings_are_clear(corpus, tokenizer):
    with pytest.raises(ValueError, match="max_seq_length"):
        PretrainingExamples(corpus, tokenizer, max_seq_length=4)
    with pytest.raises(ValueError, match="masked_lm_prob"):
        PretrainingExamples(corpus, tokenizer, masked_lm_prob=1.5)
    with pytest.raises(ValueError, match="seed"):
        PretrainingExamples(corpus, tokenizer, seed=-1)
    with pytest.raises(TypeError, match="files"):
        PretrainingExamples(3, tokenizer)


def test_imports_no_framework():
    code = ("import sys, bert_core.data; "
            "print(' '.join(m for m in ('torch', 'tensorflow', 'jax', 'flax', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == []
