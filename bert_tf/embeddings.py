"""Word + position + token type embeddings, LayerNorm and dropout (transformers' ``TFBertEmbeddings``)."""

from __future__ import annotations

import keras
import tensorflow as tf

from bert_core.config import BertConfig
from bert_tf.kernels import float32_units


def scope(layer: keras.layers.Layer) -> keras.name_scope:
    """``with scope(self):`` around the sublayers and weights a layer creates in ``__init__``: their variables'
    ``path`` then reads as transformers' TF names (``tf_bert_model/bert/embeddings/word_embeddings/weight``)."""
    return keras.name_scope(layer.name, caller=layer)


def initializer(config: BertConfig) -> keras.initializers.Initializer:
    return keras.initializers.TruncatedNormal(stddev=config.initializer_range)


@keras.saving.register_keras_serializable(package="bert_tf")
class Float32UnitsDense(keras.layers.Dense):
    """``keras.layers.Dense`` under a 16-bit policy, its matmul on the float32 units (``bert_tf.kernels``): the
    input as Keras rounded it to the compute dtype, the float32 kernel and bias, the output rounded back."""

    round_output = True  # False where the consumer is more float32 math, not another Keras layer (Q, K, V)

    def __init__(self, *args, **kwargs) -> None:
        kwargs["autocast"] = False  # read the float32 variables, not bfloat16 copies
        super().__init__(*args, **kwargs)

    def call(self, inputs, training=None):
        out = super().call(tf.cast(inputs, tf.float32), training=training)
        return tf.cast(out, self.compute_dtype) if self.round_output else out


def dense(config: BertConfig, units: int, name: str, in_dim: int, activation=None) -> keras.layers.Dense:
    """A built Dense layer (``kernel`` [in_dim, units], ``bias``, then ``activation`` if given) with BERT's
    initialisation; under a 16-bit policy its matmul runs where ``bert_tf.kernels.float32_units`` says (on the
    float32 units the activation runs on the float32 result, rounded once)."""
    cls = Float32UnitsDense if float32_units(keras.config.dtype_policy().compute_dtype) else keras.layers.Dense
    layer = cls(units, activation=activation, kernel_initializer=initializer(config), name=name)
    layer.build((None, None, in_dim))
    return layer


class TFWeight(keras.layers.Layer):
    """A layer holding one raw ``weight`` matrix (transformers' ``word_embeddings/weight`` and decoder weight).

    Its call gathers rows of the float32 variable (``autocast=False``: under a 16-bit policy Keras would otherwise
    cast the whole table, 30522 x 768 for BERT, at every call before gathering); callers cast the rows."""

    def __init__(self, shape: tuple[int, ...], init: keras.initializers.Initializer, **kwargs) -> None:
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        with scope(self):
            self.weight = self.add_weight(name="weight", shape=shape, initializer=init)
            self.built = True

    def call(self, ids: tf.Tensor) -> tf.Tensor:
        return tf.gather(self.weight, ids)


class TFBertEmbeddings(keras.layers.Layer):
    """Sums word, token type and (absolute) position embeddings, then LayerNorm and dropout."""

    def __init__(self, config: BertConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        with scope(self):
            self.config = config
            h = config.hidden_size
            self.word_embeddings = TFWeight((config.vocab_size, h), initializer(config), name="word_embeddings")
            self.token_type_embeddings = keras.layers.Embedding(
                config.type_vocab_size, h, embeddings_initializer=initializer(config), name="token_type_embeddings")
            self.token_type_embeddings.build((None,))
            self.position_embeddings = keras.layers.Embedding(config.max_position_embeddings, h,
                                                              embeddings_initializer=initializer(config),
                                                              name="position_embeddings")
            self.position_embeddings.build((None,))
            self.LayerNorm = keras.layers.LayerNormalization(epsilon=config.layer_norm_eps, name="LayerNorm")
            self.LayerNorm.build((None, None, h))
            self.dropout = keras.layers.Dropout(config.hidden_dropout_prob)
            self.built = True

    def call(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
             past_length=0, training: bool = False) -> tf.Tensor:
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        inputs_embeds = tf.cast(inputs_embeds, self.compute_dtype)
        shape = tf.shape(inputs_embeds)[:-1]
        if token_type_ids is None:
            token_type_ids = tf.zeros(shape, tf.int32)
        embeddings = inputs_embeds + tf.cast(self.token_type_embeddings(token_type_ids), self.compute_dtype)
        if self.config.position_embedding_type == "absolute":
            if position_ids is None:
                position_ids = tf.range(shape[-1])[None, :] + tf.cast(past_length, tf.int32)
            embeddings = embeddings + tf.cast(self.position_embeddings(position_ids), self.compute_dtype)
        embeddings = self.LayerNorm(embeddings)
        return self.dropout(embeddings, training=training)
