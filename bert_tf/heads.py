"""Prediction heads: masked-LM (``mlm___cls``) and next-sentence (``nsp___cls``), with transformers' TF names.

The MLM decoder shares the word embedding matrix, which the model passes in at call time (so the weight has one
owner and one name); with ``tie_word_embeddings=False`` the head holds its own ``decoder/weight``.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from bert_core.config import BertConfig
from bert_tf.embeddings import TFWeight, dense, initializer, scope
from bert_tf.kernels import float32_units
from bert_tf.layers import activation


class TFBertPredictionHeadTransform(keras.layers.Layer):
    def __init__(self, config: BertConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        with scope(self):
            self.dense = dense(config, config.hidden_size, "dense", config.hidden_size)
            self.act = activation(config.hidden_act)
            self.LayerNorm = keras.layers.LayerNormalization(epsilon=config.layer_norm_eps, name="LayerNorm")
            self.LayerNorm.build((None, None, config.hidden_size))
            self.built = True

    def call(self, hidden_states):
        return self.LayerNorm(self.act(self.dense(hidden_states)))


class TFBertLMPredictionHead(keras.layers.Layer):
    """transform -> logits against the word embeddings (or an untied decoder) + ``bias``.

    Under a 16-bit policy the decoder matmul runs where ``bert_tf.kernels.float32_units`` says; ``autocast=False``
    reads the float32 table and bias as stored (the casts are explicit) rather than a 16-bit copy of the
    30522 x 768 table made at every call (inside the model: Keras 3 still autocasts a layer with
    ``autocast=False`` that is called on its own under a mixed policy). bert_tf ``TFBertForMaskedLM`` 8 x 128
    under ``mixed_bfloat16``: 1.31x -> 1.03x its float32 time on an AVX512-BF16 Xeon
    (``bench/tf_bf16_heads.py``)."""

    def __init__(self, config: BertConfig, **kwargs) -> None:
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        with scope(self):
            self.transform = TFBertPredictionHeadTransform(config, name="transform")
            self.bias = self.add_weight(name="bias", shape=(config.vocab_size,), initializer="zeros")
            if not config.tie_word_embeddings:
                self.decoder = TFWeight((config.vocab_size, config.hidden_size), initializer(config), name="decoder")
            self.tied = config.tie_word_embeddings
            self.built = True

    def call(self, hidden_states, word_embeddings):
        hidden_states = self.transform(hidden_states)
        weight = word_embeddings if self.tied else self.decoder.weight
        if float32_units(self.compute_dtype):  # the bf16 activations times the float32 table, rounded once
            logits = tf.matmul(tf.cast(hidden_states, tf.float32), tf.cast(weight, tf.float32), transpose_b=True)
            return tf.cast(logits + tf.cast(self.bias, tf.float32), hidden_states.dtype)
        logits = tf.matmul(hidden_states, tf.cast(weight, hidden_states.dtype), transpose_b=True)
        return logits + tf.cast(self.bias, logits.dtype)


class TFBertMLMHead(keras.layers.Layer):
    def __init__(self, config: BertConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        with scope(self):
            self.predictions = TFBertLMPredictionHead(config, name="predictions")
            self.built = True

    def call(self, sequence_output, word_embeddings):
        return self.predictions(sequence_output, word_embeddings=word_embeddings)


class TFBertNSPHead(keras.layers.Layer):
    def __init__(self, config: BertConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        with scope(self):
            self.seq_relationship = dense(config, 2, "seq_relationship", config.hidden_size)
            self.built = True

    def call(self, pooled_output):
        return self.seq_relationship(pooled_output)
