"""What a parsed ``bertzoo train`` command line means, for every framework's ``train.main(args)``.

The parser lives in ``bertzoo.train_cli``; these functions turn its namespace into a ``TrainingConfig``, a
``BertConfig`` and the global batches, without importing any framework.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from bert_core.training import TrainingConfig


def training_config(args: argparse.Namespace) -> TrainingConfig:
    """The ``TrainingConfig`` the arguments describe (raises ``ValueError`` for bad values)."""
    return TrainingConfig(
        task=args.task, learning_rate=args.lr, warmup_steps=args.warmup_steps, total_steps=args.steps,
        weight_decay=args.weight_decay, adam_beta1=args.adam_betas[0], adam_beta2=args.adam_betas[1],
        adam_epsilon=args.adam_eps, max_grad_norm=args.max_grad_norm or None,
        gradient_accumulation_steps=args.grad_accum, batch_size=args.batch_size, max_seq_length=args.seq_len,
        seed=args.seed, dtype="bfloat16" if args.bf16 else "float32", log_every=args.log_every,
        save_every=args.save_every, output_dir=args.output_dir, packing=getattr(args, "pack", False))


def model_config(args: argparse.Namespace):
    """The ``BertConfig`` of ``--config`` (None with ``--model``)."""
    from bert_core.config import BertConfig

    return BertConfig.from_json_file(args.config) if args.config else None


def train_data(args: argparse.Namespace, config: TrainingConfig, bert_config: Any):
    """Endless global batches (dicts of numpy arrays) for the task, from ``--train-files``."""
    from bert_core import training

    missing = [f for f in args.train_files if not os.path.isfile(f)]
    if missing:
        raise FileNotFoundError(f"training files not found: {', '.join(missing)}")
    if config.task == "pretraining" and not all(str(f).endswith(".npz") for f in args.train_files):
        folder = args.tokenizer or args.model
        if folder is None:
            raise ValueError("pretraining from --config needs --tokenizer FOLDER (a folder with vocab.txt)")
        tokenizer = load_tokenizer(folder)
        if tokenizer.vocab_size > bert_config.vocab_size:
            raise ValueError(f"the tokenizer has {tokenizer.vocab_size} tokens, the model only "
                             f"{bert_config.vocab_size}")
        return training.pretraining_batches(list(args.train_files), tokenizer, config)
    if config.packing:
        raise ValueError("--pack packs examples made from text files; give --train-files as text, or drop --pack")
    return training.array_batches(training.load_npz_arrays(args.train_files), config)


def load_tokenizer(folder: str):
    try:
        from bert_core import BertTokenizerFast
        return BertTokenizerFast.from_pretrained(folder, check_vocab_size=False)
    except ImportError:  # no `tokenizers` package: the pure-Python tokenizer gives the same ids
        from bert_core import BertTokenizer
        return BertTokenizer.from_pretrained(folder, check_vocab_size=False)
