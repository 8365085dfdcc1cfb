"""Every head's loss with bert_torch's (transformers') semantics, as a scalar mean in float32.

Cross-entropy ignores label -100 and averages over the labels that count (NaN when none does, as PyTorch);
sequence classification picks regression, single-label or multi-label by ``bert_core.heads.infer_problem_type``;
question answering clamps positions to the sequence length and ignores those; the causal LM shifts by one.
"""

from __future__ import annotations

import tensorflow as tf

from bert_core.heads import IGNORE_INDEX, infer_problem_type



def cross_entropy(logits: tf.Tensor, labels: tf.Tensor, ignore_index: int | tf.Tensor = IGNORE_INDEX) -> tf.Tensor:
    """Mean cross-entropy over labels != ignore_index; logits [..., C], labels [...]."""
    logits = tf.cast(logits, tf.float32)
    num_classes = tf.shape(logits)[-1]
    logits = tf.reshape(logits, (-1, num_classes))
    labels = tf.reshape(tf.cast(labels, tf.int32), (-1,))
    valid = tf.not_equal(labels, tf.cast(ignore_index, tf.int32))
    safe = tf.where(valid, labels, tf.zeros_like(labels))
    per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=safe, logits=logits)
    weights = tf.cast(valid, tf.float32)
    return tf.reduce_sum(per_token * weights) / tf.reduce_sum(weights)


def masked_lm_loss(logits, labels):
    return cross_entropy(logits, labels)


def causal_lm_loss(logits, labels):
    """Predict token t+1 from position t: logits[:, :-1] against labels[:, 1:]."""
    return cross_entropy(logits[:, :-1], labels[:, 1:])


def pretraining_loss(prediction_logits, seq_relationship_logits, labels, next_sentence_label):
    return cross_entropy(prediction_logits, labels) + cross_entropy(seq_relationship_logits, next_sentence_label)


def sequence_classification_loss(logits, labels, num_labels: int, problem_type: str | None):
    problem = infer_problem_type(problem_type, num_labels, labels.dtype.is_integer)
    logits = tf.cast(logits, tf.float32)
    if problem == "regression":
        labels = tf.cast(labels, tf.float32)
        if num_labels == 1:
            return tf.reduce_mean(tf.square(tf.squeeze(logits, -1) - tf.reshape(labels, (-1,))))
        return tf.reduce_mean(tf.square(logits - labels))
    if problem == "single_label_classification":
        return cross_entropy(logits, labels)
    labels = tf.cast(labels, tf.float32)
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


def question_answering_loss(start_logits, end_logits, start_positions, end_positions):
    """Positions outside [0, seq_len) are clamped to seq_len and ignored; mean of start and end losses."""
    seq_len = tf.shape(start_logits)[1]
    start = tf.clip_by_value(tf.reshape(tf.cast(start_positions, tf.int32), (-1,)), 0, seq_len)
    end = tf.clip_by_value(tf.reshape(tf.cast(end_positions, tf.int32), (-1,)), 0, seq_len)
    return (cross_entropy(start_logits, start, seq_len) + cross_entropy(end_logits, end, seq_len)) / 2.0
