"""Sequence packing (bert_core.data.packing): rows hold whole examples, apart, with nothing lost."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from bert_core import train_args
from bert_core.data import (IGNORE_INDEX, PACKED_FIELDS, PretrainingExamples, attention_mask_from_example_ids,
                            pack_examples, pack_lengths, pack_row, packed_batches)
from bert_core.training import TrainingConfig, pretraining_batches
from bertzoo import train_cli
from tests.core.test_pretraining_data import TOKENIZER_FOLDER, StubTokenizer, write_corpus


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> list[dict[str, np.ndarray]]:
    paths = write_corpus(tmp_path_factory.mktemp("packing"), n_files=2, docs_per_file=15)
    tokenizer = StubTokenizer(TOKENIZER_FOLDER / "vocab.txt")
    return list(PretrainingExamples(paths, tokenizer, max_seq_length=64, short_seq_prob=0.3, seed=1))


def random_examples(n: int = 10, seq: int = 24, vocab: int = 99, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Unpacked examples of random lengths (5..seq; [CLS]=1, [SEP]=2, [MASK]=3), about 20% of tokens labelled."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        length = int(rng.integers(5, seq + 1))
        ids = np.zeros(seq, np.int32)
        ids[:length] = rng.integers(5, vocab, length)
        split = int(rng.integers(2, length - 2))
        ids[[0, split, length - 1]] = (1, 2, 2)
        types = np.zeros(seq, np.int32)
        types[split + 1:length] = 1
        labels = np.full(seq, IGNORE_INDEX, np.int32)
        picked = rng.choice(np.arange(1, length - 1), max(1, length // 5), replace=False)
        labels[picked], ids[picked] = ids[picked], 3
        out.append({"input_ids": ids, "token_type_ids": types, "attention_mask": (np.arange(seq) < length)
                    .astype(np.int32), "labels": labels, "next_sentence_label": np.array(rng.integers(0, 2), np.int32)})
    return out


def unpack(row: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """The examples of a packed row, each as (ids, token types, labels, nsp label) without padding."""
    out = []
    for j in range(1, int(row["example_ids"].max()) + 1):
        at = np.flatnonzero(row["example_ids"] == j)
        assert np.array_equal(at, np.arange(at[0], at[-1] + 1)), "an example must be contiguous"
        assert row["cls_positions"][j - 1] == at[0]
        assert np.array_equal(row["position_ids"][at], np.arange(len(at)))
        out.append({"input_ids": row["input_ids"][at], "token_type_ids": row["token_type_ids"][at],
                    "labels": row["labels"][at], "nsp": int(row["next_sentence_label"][j - 1])})
    assert np.all(row["next_sentence_label"][len(out):] == IGNORE_INDEX)
    return out


def key(e) -> tuple:
    return (e["input_ids"].tobytes(), e["token_type_ids"].tobytes(), e["labels"].tobytes(), int(e["nsp"]))


def test_pack_lengths_fits_everything_once():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 129, 500).tolist()
    rows = pack_lengths(lengths, 128, max_per_row=3)
    assert sorted(i for r in rows for i in r) == list(range(500))
    assert all(sum(lengths[i] for i in r) <= 128 and 1 <= len(r) <= 3 for r in rows)
    assert len(rows) <= 1.1 * max(sum(lengths) / 128, 500 / 3)  # close to the lower bound
    assert rows == pack_lengths(lengths, 128, max_per_row=3)  # deterministic
    assert all(len(r) == 1 for r in pack_lengths(lengths, 128, max_per_row=1))
    with pytest.raises(ValueError, match="cannot be packed into rows of 128"):
        pack_lengths([129], 128)
    with pytest.raises(ValueError, match="max_per_row"):
        pack_lengths([3], 128, max_per_row=0)


def test_pack_row_lays_out_examples(examples):
    row = pack_row(examples[:2], 128, max_per_row=3, pad_token_id=0)
    assert set(row) == set(PACKED_FIELDS)
    n0, n1 = (int(e["attention_mask"].sum()) for e in examples[:2])
    assert row["cls_positions"].tolist() == [0, n0, 0]
    assert row["next_sentence_label"].tolist() == [int(examples[0]["next_sentence_label"]),
                                                   int(examples[1]["next_sentence_label"]), IGNORE_INDEX]
    assert row["example_ids"].tolist() == [1] * n0 + [2] * n1 + [0] * (128 - n0 - n1)
    assert np.all(row["labels"][n0 + n1:] == IGNORE_INDEX) and np.all(row["input_ids"][n0 + n1:] == 0)
    got = unpack(row)
    for e, g in zip(examples[:2], got):
        n = int(e["attention_mask"].sum())
        assert np.array_equal(g["input_ids"], e["input_ids"][:n])
        assert np.array_equal(g["labels"], e["labels"][:n])
        assert np.array_equal(g["token_type_ids"], e["token_type_ids"][:n])
    with pytest.raises(ValueError, match="exceed max_seq_length=64"):
        pack_row(examples[:3], 64)
    with pytest.raises(ValueError, match="a row holds 1 to 3 examples"):
        pack_row(examples[:4], 512)


def test_pack_examples_keeps_every_example_and_cuts_padding(examples):
    rows = list(pack_examples(iter(examples), 64, buffer_size=50, rng=np.random.default_rng(0)))
    packed = sorted(key(e) for row in rows for e in unpack(row))
    wanted = []
    for e in examples:
        n = int(e["attention_mask"].sum())
        wanted.append(key({"input_ids": e["input_ids"][:n], "token_type_ids": e["token_type_ids"][:n],
                           "labels": e["labels"][:n], "nsp": e["next_sentence_label"]}))
    assert packed == sorted(wanted)
    real = sum(int(e["attention_mask"].sum()) for e in examples)
    assert real / (len(examples) * 64) < 0.8  # the unpacked rows carry padding (25% here)...
    assert real / (len(rows) * 64) > 0.9  # ...the packed ones little
    assert all(row["example_ids"].max() <= 3 for row in rows)


def test_block_diagonal_mask():
    ids = np.array([[1, 1, 2, 2, 2, 0], [1, 1, 1, 1, 1, 1]])
    mask = attention_mask_from_example_ids(ids)
    assert mask.shape == (2, 6, 6) and mask.dtype == bool
    assert mask[0, 0].tolist() == [True, True, False, False, False, False]
    assert mask[0, 3].tolist() == [False, False, True, True, True, False]
    assert mask[0, 5].tolist() == [False] * 5 + [True]  # padding sees only padding: no empty row
    assert mask[1].all()


def test_packed_batches_shapes(examples):
    batches = list(packed_batches(examples, 4, 64, seed=0))
    assert batches and all(b["input_ids"].shape == (4, 64) and b["cls_positions"].shape == (4, 3) for b in batches)
    again = list(packed_batches(examples, 4, 64, seed=0))
    assert all(np.array_equal(a["input_ids"], b["input_ids"]) for a, b in zip(batches, again))


def test_config_and_cli_switch(tmp_path):
    with pytest.raises(ValueError, match="packing applies to pretraining only"):
        TrainingConfig(task="sequence-classification", packing=True)
    parser = argparse.ArgumentParser()
    train_cli.add_train_parser(parser.add_subparsers())
    args = parser.parse_args(["train", "--config", "c.json", "--train-files", "a.txt", "--output-dir", "o", "--pack"])
    assert train_args.training_config(args).packing
    args.framework = "tf"  # every framework trains packed rows
    assert train_args.training_config(args).packing
    args = parser.parse_args(["train", "--config", "c.json", "--train-files", "a.txt", "--output-dir", "o"])
    assert not train_args.training_config(args).packing
    np.savez(tmp_path / "a.npz", input_ids=np.zeros((2, 8), np.int32))
    args = parser.parse_args(["train", "--config", "c.json", "--train-files", str(tmp_path / "a.npz"),
                              "--output-dir", "o", "--pack"])
    with pytest.raises(ValueError, match="--pack packs examples made from text files"):
        train_args.train_data(args, train_args.training_config(args), None)
    paths = write_corpus(tmp_path, n_files=1, docs_per_file=10)
    config = TrainingConfig(batch_size=2, max_seq_length=64, packing=True)
    batch = next(pretraining_batches(paths, StubTokenizer(TOKENIZER_FOLDER / "vocab.txt"), config))
    assert set(batch) == set(PACKED_FIELDS) and batch["input_ids"].shape == (2, 64)
