"""The loss of every head, with transformers' (and bert_torch's) semantics, computed in float32.

Cross entropy ignores label -100 and averages over the labels that count (NaN when none count, as torch);
sequence classification follows ``config.problem_type`` or infers it (``bert_core.heads.infer_problem_type``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from bert_core.heads import IGNORE_INDEX



def cross_entropy(logits, labels, ignore_index: int = IGNORE_INDEX):
    """Mean cross entropy over ``labels != ignore_index`` (torch ``CrossEntropyLoss``)."""
    logits = logits.astype(jnp.float32).reshape(-1, logits.shape[-1])
    labels = labels.reshape(-1).astype(jnp.int32)
    valid = labels != ignore_index
    safe = jnp.where(valid, labels, 0)
    logp = jax.nn.log_softmax(logits, axis=-1)
    nll = -jnp.take_along_axis(logp, safe[:, None], axis=-1)[:, 0]
    return jnp.sum(jnp.where(valid, nll, 0.0)) / jnp.sum(valid)


def masked_lm_loss(logits, labels):
    return cross_entropy(logits, labels)


def causal_lm_loss(logits, labels):
    """Next-token loss: position t predicts label t+1 (transformers' shift)."""
    return cross_entropy(logits[:, :-1], labels[:, 1:])


def pretraining_loss(prediction_logits, seq_relationship_logits, labels, next_sentence_label):
    return cross_entropy(prediction_logits, labels) + cross_entropy(seq_relationship_logits, next_sentence_label)


def sequence_classification_loss(logits, labels, num_labels: int, problem_type: str):
    """``problem_type`` is resolved on the host: regression, single_label_ or multi_label_classification."""
    logits = logits.astype(jnp.float32)
    if problem_type == "regression":
        if num_labels == 1:
            return jnp.mean((jnp.squeeze(logits) - jnp.squeeze(labels).astype(jnp.float32)) ** 2)
        return jnp.mean((logits - labels.astype(jnp.float32)) ** 2)
    if problem_type == "single_label_classification":
        return cross_entropy(logits.reshape(-1, num_labels), labels)
    y = labels.astype(jnp.float32)  # multi-label: BCEWithLogits, mean over every element
    return jnp.mean(jnp.maximum(logits, 0) - logits * y + jnp.log1p(jnp.exp(-jnp.abs(logits))))


def question_answering_loss(start_logits, end_logits, start_positions, end_positions):
    """Mean of start and end losses; positions outside the sequence are clamped to it and ignored."""
    if start_positions.ndim > 1:
        start_positions = start_positions.squeeze(-1)
    if end_positions.ndim > 1:
        end_positions = end_positions.squeeze(-1)
    ignored = start_logits.shape[1]
    start = jnp.clip(start_positions, 0, ignored)
    end = jnp.clip(end_positions, 0, ignored)
    return (cross_entropy(start_logits, start, ignored) + cross_entropy(end_logits, end, ignored)) / 2
