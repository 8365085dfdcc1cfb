"""Synthetic training data and runners shared by the training tests (tiny configs, dropout off)."""

from __future__ import annotations

import os

import numpy as np

from bert_core.training import TrainingConfig, array_batches
from tests.conftest import tiny_config_dict
from tests.contract.builders import task_arrays

VOCAB, SEQ = 99, 12


def pretraining_arrays(n: int = 16, seq: int = SEQ, labelled: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    """MLM + NSP rows with exactly ``labelled`` MLM labels a row, so every micro-batch's mean loss weighs tokens
    equally and per-process means average to the global mean (``tests.contract.builders.task_arrays``)."""
    return task_arrays("pretraining", n=n, seq=seq, seed=seed, vocab=VOCAB, labelled=labelled)


def classification_arrays(n: int = 16, seq: int = SEQ, num_labels: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    return task_arrays("sequence-classification", n=n, seq=seq, seed=seed, vocab=VOCAB, num_labels=num_labels)


def run_training(task: str, arrays: dict, output_dir: str, strategy: str = "none", info=None, resume_from=None,
                 **overrides):
    """Train a seeded tiny model; returns (TrainResult, final schema state dict)."""
    from bert_core import BertConfig
    from bert_torch.train import build_model, train

    values = dict(task=task, total_steps=3, batch_size=4, warmup_steps=1, learning_rate=1e-2, weight_decay=0.1,
                  max_grad_norm=1.0, log_every=2, output_dir=output_dir, seed=0)
    values.update(overrides)
    config = TrainingConfig(**values)
    model = build_model(config, model_config=BertConfig(**tiny_config_dict()))
    result = train(model, array_batches(arrays, config, shuffle=False), config, strategy=strategy, info=info,
                   progress=False, resume_from=resume_from)
    import conversion
    return result, conversion.load_state_dict(os.path.join(output_dir))
