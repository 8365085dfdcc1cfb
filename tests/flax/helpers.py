"""Small builders shared by the Flax tests."""

from __future__ import annotations

import numpy as np

from bert_core import BertConfig
from tests.conftest import random_inputs, tiny_config_dict


def tiny_config(**overrides) -> BertConfig:
    return BertConfig(**tiny_config_dict(**overrides))


def max_diff(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def head_inputs(head: str, batch: int = 3, seq: int = 11, seed: int = 0, vocab: int = 99) -> dict[str, np.ndarray]:
    return random_inputs(batch=batch, seq=seq, seed=seed, vocab=vocab,
                         choices=3 if head == "BertForMultipleChoice" else None)


def head_labels(head: str, inputs: dict[str, np.ndarray], config: BertConfig, seed: int = 1,
                float_labels: bool = False) -> dict[str, np.ndarray]:
    """Labels for every head's loss (some -100 where the loss ignores them)."""
    rng = np.random.default_rng(seed)
    ids = inputs["input_ids"]
    batch, seq = ids.shape[0], ids.shape[-1]
    if head in ("BertForMaskedLM", "BertLMHeadModel", "BertForPreTraining"):
        labels = rng.integers(0, config.vocab_size, size=(batch, seq))
        labels[:, ::3] = -100
        out = {"labels": labels}
        if head == "BertForPreTraining":
            out["next_sentence_label"] = rng.integers(0, 2, size=(batch,))
        return out
    if head == "BertForNextSentencePrediction":
        return {"labels": rng.integers(0, 2, size=(batch,))}
    if head == "BertForSequenceClassification":
        if float_labels:
            return {"labels": rng.random((batch, config.num_labels)).astype(np.float32)}
        return {"labels": rng.integers(0, config.num_labels, size=(batch,))}
    if head == "BertForMultipleChoice":
        return {"labels": rng.integers(0, 3, size=(batch,))}
    if head == "BertForTokenClassification":
        labels = rng.integers(0, config.num_labels, size=(batch, seq))
        labels[:, -2:] = -100
        return {"labels": labels}
    if head == "BertForQuestionAnswering":  # one position beyond the sequence: clamped and ignored
        return {"start_positions": np.array([1, 4, seq + 5][:batch]), "end_positions": np.array([3, 7, 2][:batch])}
    return {}
