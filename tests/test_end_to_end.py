"""End to end: pre-train a tiny BERT with bert_flax.train on a synthetic language with a learnable rule, convert
it with conversion.convert (``bert_flax.checkpointing.export``), and the fill-mask pipeline gives the right
answer in Flax, PyTorch and TensorFlow.

The language: words ``w0 .. w11``; every sentence is four consecutive words (``w7 w8 w9 w10``, wrapping after
``w11``), so a masked word follows from its neighbours. Text files + a tiny vocab.txt go through
``bert_core.data`` (MLM + NSP examples) into ``bert_flax.train.train``.
"""

from __future__ import annotations

import importlib.util
import shutil

import numpy as np
import pytest

from tests.conftest import require

require("jax")
require("optax")

WORDS = 12
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
QUERIES = {"w3 w4 [MASK] w6": "w5", "[MASK] w9 w10 w11": "w8", "w10 w11 w0 [MASK]": "w1"}


def sentence(start: int) -> str:
    return " ".join(f"w{(start + i) % WORDS}" for i in range(4))


def write_corpus(folder, documents: int = 60, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    paths = []
    for part in range(2):
        lines = []
        for _ in range(documents // 2):
            lines += [sentence(int(s)) for s in rng.integers(0, WORDS, size=rng.integers(3, 7))] + [""]
        path = folder / f"corpus_{part}.txt"
        path.write_text("\n".join(lines) + "\n")
        paths.append(str(path))
    return paths


def test_pretrain_flax_then_fill_mask_in_every_framework(tmp_path):
    from bert_core import BertConfig
    from bertzoo import pipeline
    from bert_core.train_args import load_tokenizer
    from bert_core.training import TrainingConfig, pretraining_batches
    from bert_flax.checkpointing import export
    from bert_flax.train import build_model, train

    vocab = tmp_path / "vocab"
    vocab.mkdir()
    (vocab / "vocab.txt").write_text("\n".join(SPECIALS + [f"w{i}" for i in range(WORDS)]) + "\n")
    tokenizer = load_tokenizer(str(vocab))
    files = write_corpus(tmp_path)
    bert = BertConfig(vocab_size=len(SPECIALS) + WORDS, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=128, max_position_embeddings=32, hidden_dropout_prob=0.0,
                      attention_probs_dropout_prob=0.0)
    config = TrainingConfig(task="pretraining", total_steps=300, batch_size=32, max_seq_length=16,
                            learning_rate=3e-3, warmup_steps=30, weight_decay=0.01, log_every=10,
                            output_dir=str(tmp_path / "flax"))
    model = build_model(config, model_config=bert)
    data = pretraining_batches(files, tokenizer, config, masked_lm_prob=0.2, short_seq_prob=0.0)
    result = train(model, data, config, progress=False)
    assert np.mean(result.losses[-3:]) < 0.6 * result.losses[0], result.losses  # MLM + an unlearnable NSP
    shutil.copy(vocab / "vocab.txt", tmp_path / "flax" / "vocab.txt")

    frameworks = {"flax": str(tmp_path / "flax")}
    for fw, module in (("pt", "torch"), ("tf", "tensorflow")):
        if importlib.util.find_spec(module) is None:  # that framework is not installed: skip it
            continue
        folder = tmp_path / fw
        export(tmp_path / "flax", folder, to=fw)  # conversion.convert
        shutil.copy(vocab / "vocab.txt", folder / "vocab.txt")
        frameworks[fw] = str(folder)
    assert (tmp_path / "flax" / "flax_model.msgpack").is_file()
    for fw, folder in frameworks.items():
        fill = pipeline("fill-mask", folder, framework=fw, device="cpu" if fw != "tf" else None)
        for text, want in QUERIES.items():
            best = fill(text, top_k=1)[0]
            assert best["token_str"] == want, (fw, text, fill(text, top_k=3))
    assert len(frameworks) == 1 + sum(importlib.util.find_spec(m) is not None for m in ("torch", "tensorflow"))
