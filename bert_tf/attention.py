"""Self and cross attention with relative position scores and a key/value cache (transformers' TF names)."""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from bert_core.config import BertConfig
from bert_tf.embeddings import dense, initializer, scope
from bert_tf.kernels import float32_units


def pack_tokens(x: tf.Tensor, token_index: tf.Tensor) -> tf.Tensor:
    """[batch, seq, hidden] -> [tokens, hidden]: the rows ``token_index`` (flat ``batch * seq`` positions)."""
    return tf.gather(tf.reshape(x, (-1, tf.shape(x)[-1])), token_index)


def unpack_tokens(x: tf.Tensor, token_index: tf.Tensor, batch, seq, inverse: tf.Tensor | None = None) -> tf.Tensor:
    """[tokens, hidden] -> [batch, seq, hidden], zeros where no token is (the inverse of ``pack_tokens``).

    A gather from ``x`` plus one zero row (``inverse_index``; pass it when unpacking several tensors of one layout):
    TensorFlow's CPU gather is multi-threaded, its ``scatter_nd`` is not (0.69 vs 1.09 ms for 576 x 768 -> 1024)."""
    if inverse is None:
        inverse = inverse_index(token_index, batch * seq)
    flat = tf.gather(tf.pad(x, [[0, 1], [0, 0]]), inverse)
    return tf.reshape(flat, tf.stack([batch, seq, tf.shape(x)[-1]]))


def head_indices(token_index: tf.Tensor, batch, seq, heads: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Gather indices between packed tokens and the [batch, heads, seq] rows of attention (each row one head's
    ``head_dim`` values): ``spread`` [batch, heads, seq] picks rows of a packed ``[tokens + 1, heads]`` matrix (the
    last row zeros, for padding); ``collect`` [tokens, heads] picks rows of ``[batch, heads, seq]``. One gather
    each way then replaces unpack + head transpose (and transpose + pack): half the passes over the activations."""
    inverse = tf.reshape(inverse_index(token_index, batch * seq), tf.stack([batch, 1, seq]))
    head = tf.range(heads)
    spread = inverse * heads + head[None, :, None]
    b, s = token_index // seq, token_index % seq
    collect = (b * heads)[:, None] * seq + head[None, :] * seq + s[:, None]
    return spread, collect


def inverse_index(token_index: tf.Tensor, size) -> tf.Tensor:
    """[size] int32: each flat ``batch * seq`` position's row in the packed [tokens, ...] matrix, or ``tokens`` (the
    zero row ``unpack_tokens`` appends) where no token is."""
    tokens = tf.shape(token_index)[0]
    return tf.tensor_scatter_nd_update(tf.fill(tf.reshape(size, (1,)), tokens), token_index[:, None],
                                       tf.range(tokens))


class TFBertSelfAttention(keras.layers.Layer):
    """Scaled dot-product attention over ``num_attention_heads`` heads; ``query``/``key``/``value`` Dense layers."""

    def __init__(self, config: BertConfig, position_embedding_type: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        with scope(self):
            self.num_heads = config.num_attention_heads
            self.head_dim = config.head_dim
            h = config.hidden_size
            self.query = dense(config, h, "query", h)
            self.key = dense(config, h, "key", h)
            self.value = dense(config, h, "value", h)
            for projection in (self.query, self.key, self.value):  # on the float32 units: feed float32 math as is
                projection.round_output = False
            self.dropout = keras.layers.Dropout(config.attention_probs_dropout_prob)
            self.position_embedding_type = position_embedding_type or config.position_embedding_type
            self.max_positions = config.max_position_embeddings
            if self.position_embedding_type != "absolute":
                self.distance_embedding = keras.layers.Embedding(
                    2 * config.max_position_embeddings - 1, self.head_dim, embeddings_initializer=initializer(config),
                    name="distance_embedding")
                self.distance_embedding.build((None,))
            self.is_decoder = config.is_decoder
            self.float32_units = float32_units(self.compute_dtype)
            self.built = True

    def _heads(self, x: tf.Tensor) -> tf.Tensor:
        b = tf.shape(x)[0]
        return tf.transpose(tf.reshape(x, (b, -1, self.num_heads, self.head_dim)), (0, 2, 1, 3))

    def call(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None,
             past_key_value=None, output_attentions=False, training=False, token_index=None):
        """``token_index`` given: ``hidden_states`` are [tokens, hidden] (``pack_tokens``), gathered into the
        [batch, heads, seq] layout of ``attention_mask`` ([batch, 1, 1, seq]) for attention only, and the context
        returned as [tokens, hidden] (``head_indices``)."""
        heads = self._heads
        if token_index is not None:  # [tokens, hidden] -> [batch, heads, seq, head_dim] in one gather
            batch, seq = tf.shape(attention_mask)[0], tf.shape(attention_mask)[-1]
            spread, collect = head_indices(token_index, batch, seq, self.num_heads)  # shared by q, k, v
            heads = lambda x: tf.gather(  # noqa: E731
                tf.reshape(tf.pad(x, [[0, 1], [0, 0]]), (-1, self.head_dim)), spread)
        query = heads(self.query(hidden_states))
        is_cross = encoder_hidden_states is not None
        if is_cross and past_key_value is not None:
            key, value = past_key_value
        else:
            source = encoder_hidden_states if is_cross else hidden_states
            if is_cross:
                key, value = self._heads(self.key(source)), self._heads(self.value(source))
            else:
                key, value = heads(self.key(source)), heads(self.value(source))
            if past_key_value is not None:
                key = tf.concat([tf.cast(past_key_value[0], key.dtype), key], axis=2)
                value = tf.concat([tf.cast(past_key_value[1], value.dtype), value], axis=2)
        present = (key, value) if self.is_decoder else None
        up = (lambda t: tf.cast(t, tf.float32)) if self.float32_units else (lambda t: t)  # see bert_tf.kernels
        q, k = up(query), up(key)
        scores = tf.matmul(q, k, transpose_b=True)
        if self.position_embedding_type != "absolute":
            q_len, k_len = tf.shape(query)[2], tf.shape(key)[2]
            left = tf.range(q_len)[:, None] + (k_len - q_len)  # absolute position of each query token
            distance = left - tf.range(k_len)[None, :]
            table = tf.cast(self.distance_embedding(distance + self.max_positions - 1), q.dtype)
            scores = scores + tf.einsum("bhld,lrd->bhlr", q, table)
            if self.position_embedding_type == "relative_key_query":
                scores = scores + tf.einsum("bhrd,lrd->bhlr", k, table)
        scores = tf.cast(scores, tf.float32) / math.sqrt(self.head_dim)
        if attention_mask is not None:  # 1 = attend, 0 = masked (as transformers' additive most-negative value)
            scores = tf.where(tf.cast(attention_mask, tf.float32) > 0.5, scores, tf.float32.min)
        probs = tf.nn.softmax(scores, axis=-1)
        if not self.float32_units or training or output_attentions:  # else: no bf16 round trip on the float32 units
            probs = self.dropout(tf.cast(probs, self.compute_dtype), training=training)
        if head_mask is not None:
            probs = probs * tf.cast(head_mask, probs.dtype)
        context = tf.cast(tf.matmul(up(probs), up(value)), self.compute_dtype)
        if token_index is not None:  # [batch, heads, seq, head_dim] -> [tokens, hidden] in one gather
            context = tf.gather(tf.reshape(context, (-1, self.head_dim)), collect)
            return tf.reshape(context, (-1, self.num_heads * self.head_dim)), \
                (probs if output_attentions else None), present
        b = tf.shape(context)[0]
        context = tf.reshape(tf.transpose(context, (0, 2, 1, 3)), (b, -1, self.num_heads * self.head_dim))
        return context, (probs if output_attentions else None), present


class TFBertSelfOutput(keras.layers.Layer):
    """Dense projection, dropout, residual and LayerNorm after attention."""

    def __init__(self, config: BertConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        with scope(self):
            h = config.hidden_size
            self.dense = dense(config, h, "dense", h)
            self.LayerNorm = keras.layers.LayerNormalization(epsilon=config.layer_norm_eps, name="LayerNorm")
            self.LayerNorm.build((None, None, h))
            self.dropout = keras.layers.Dropout(config.hidden_dropout_prob)
            self.built = True

    def call(self, hidden_states, input_tensor, training=False):
        hidden_states = self.dropout(self.dense(hidden_states), training=training)
        return self.LayerNorm(hidden_states + input_tensor)


class TFBertAttention(keras.layers.Layer):
    """``self`` attention plus its ``output`` block (transformers' ``attention`` / ``crossattention``)."""

    def __init__(self, config: BertConfig, position_embedding_type: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        with scope(self):
            self.self_attention = TFBertSelfAttention(config, position_embedding_type, name="self")
            self.dense_output = TFBertSelfOutput(config, name="output")
            self.built = True

    def call(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None,
             past_key_value=None, output_attentions=False, training=False, token_index=None):
        context, probs, present = self.self_attention(
            hidden_states, attention_mask=attention_mask, head_mask=head_mask,
            encoder_hidden_states=encoder_hidden_states, past_key_value=past_key_value,
            output_attentions=output_attentions, training=training, token_index=token_index)
        return self.dense_output(context, input_tensor=hidden_states, training=training), probs, present
