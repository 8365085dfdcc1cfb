"""Feed-forward blocks, ``TFBertLayer``, the encoder, the pooler and ``TFBertMainLayer`` (transformers' ``bert``)."""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from bert_core import outputs as O
from bert_core.checks import check_model_inputs, check_same_shape
from bert_core.config import BertConfig
from bert_tf.attention import TFBertAttention, inverse_index, pack_tokens, unpack_tokens
from bert_tf.embeddings import TFBertEmbeddings, dense, scope


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + tf.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * tf.pow(x, 3))))


ACTIVATIONS = {
    "gelu": lambda x: tf.nn.gelu(x, approximate=False),
    "gelu_new": _gelu_tanh,
    "gelu_pytorch_tanh": _gelu_tanh,
    "gelu_fast": _gelu_tanh,
    "relu": tf.nn.relu,
    "silu": tf.nn.silu,
    "swish": tf.nn.silu,
    "tanh": tf.tanh,
    "quick_gelu": lambda x: x * tf.sigmoid(1.702 * x),
}


def activation(name: str):
    """``ACTIVATIONS[name]``, computed in float32 for 16-bit inputs and cast back (TensorFlow's CPU erf / tanh
    kernels are several times slower in bfloat16 than the casts, and float32 is more exact)."""
    fn = ACTIVATIONS[name]

    def act(x):
        if x.dtype in (tf.bfloat16, tf.float16):
            return tf.cast(fn(tf.cast(x, tf.float32)), x.dtype)
        return fn(x)
    return act


class TFBertIntermediate(keras.layers.Layer):
    def __init__(self, config: BertConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        with scope(self):
            self.dense = dense(config, config.intermediate_size, "dense", config.hidden_size,
                               activation=activation(config.hidden_act))
            self.built = True

    def call(self, hidden_states):
        return self.dense(hidden_states)


class TFBertOutput(keras.layers.Layer):
    def __init__(self, config: BertConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        with scope(self):
            self.dense = dense(config, config.hidden_size, "dense", config.intermediate_size)
            self.LayerNorm = keras.layers.LayerNormalization(epsilon=config.layer_norm_eps, name="LayerNorm")
            self.LayerNorm.build((None, None, config.hidden_size))
            self.dropout = keras.layers.Dropout(config.hidden_dropout_prob)
            self.built = True

    def call(self, hidden_states, input_tensor, training=False):
        return self.LayerNorm(self.dropout(self.dense(hidden_states), training=training) + input_tensor)


class TFBertLayer(keras.layers.Layer):
    """Self attention, optional cross attention (decoders), feed-forward."""

    def __init__(self, config: BertConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        with scope(self):
            self.attention = TFBertAttention(config, name="attention")
            self.is_decoder = config.is_decoder
            self.add_cross_attention = config.add_cross_attention
            if self.add_cross_attention:
                if not self.is_decoder:
                    raise ValueError("add_cross_attention=True needs is_decoder=True in the config.")
                self.crossattention = TFBertAttention(config, "absolute", name="crossattention")
            self.intermediate = TFBertIntermediate(config, name="intermediate")
            self.bert_output = TFBertOutput(config, name="output")
            self.built = True

    def call(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None,
             encoder_attention_mask=None, past_key_value=None, output_attentions=False, training=False,
             token_index=None):
        self_past = past_key_value[:2] if past_key_value is not None else None
        attn_out, self_probs, present = self.attention(
            hidden_states, attention_mask=attention_mask, head_mask=head_mask, past_key_value=self_past,
            output_attentions=output_attentions, training=training, token_index=token_index)
        cross_probs = None
        if self.is_decoder and encoder_hidden_states is not None:
            if not self.add_cross_attention:
                raise ValueError("encoder_hidden_states were given, but the model has no cross-attention layers; "
                                 "build it with add_cross_attention=True.")
            cross_past = past_key_value[2:] if past_key_value is not None and len(past_key_value) == 4 else None
            attn_out, cross_probs, cross_present = self.crossattention(
                attn_out, attention_mask=encoder_attention_mask, head_mask=head_mask,
                encoder_hidden_states=encoder_hidden_states, past_key_value=cross_past,
                output_attentions=output_attentions, training=training)
            present = present + cross_present
        layer_out = self.bert_output(self.intermediate(attn_out), input_tensor=attn_out, training=training)
        return layer_out, self_probs, cross_probs, present


class TFBertEncoder(keras.layers.Layer):
    """``num_hidden_layers`` TFBertLayers named ``layer_._0`` ... as transformers named them."""

    def __init__(self, config: BertConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        with scope(self):
            self.layer = [TFBertLayer(config, name=f"layer_._{i}") for i in range(config.num_hidden_layers)]
            self.built = True

    def call(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None,
             encoder_attention_mask=None, past_key_values=None, use_cache=False, output_attentions=False,
             output_hidden_states=False, training=False, token_index=None):
        """``token_index`` given: ``hidden_states`` (and the returned ones) are [tokens, hidden] (``pack_tokens``)."""
        all_hidden = (hidden_states,) if output_hidden_states else None
        all_attn = () if output_attentions else None
        all_cross = () if output_attentions and encoder_hidden_states is not None else None
        presents = () if use_cache else None
        for i, layer in enumerate(self.layer):
            past = past_key_values[i] if past_key_values is not None else None
            hidden_states, probs, cross, present = layer(
                hidden_states, attention_mask=attention_mask, head_mask=None if head_mask is None else head_mask[i],
                encoder_hidden_states=encoder_hidden_states, encoder_attention_mask=encoder_attention_mask,
                past_key_value=past, output_attentions=output_attentions, training=training, token_index=token_index)
            if use_cache:
                presents += (present,)
            if output_attentions:
                all_attn += (probs,)
                if all_cross is not None:
                    all_cross += (cross,)
            if output_hidden_states:
                all_hidden += (hidden_states,)
        return hidden_states, all_hidden, all_attn, all_cross, presents


class TFBertPooler(keras.layers.Layer):
    """tanh(Dense(first token))."""

    def __init__(self, config: BertConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        with scope(self):
            self.dense = dense(config, config.hidden_size, "dense", config.hidden_size)
            self.built = True

    def call(self, hidden_states):
        return tf.tanh(self.dense(hidden_states[:, 0]))


def _is_concrete(*tensors) -> bool:
    return tf.executing_eagerly() and all(t is None or isinstance(t, np.ndarray) or hasattr(t, "numpy")
                                          for t in tensors)


def keep_mask(mask) -> tf.Tensor:
    """The project-wide rule for ``attention_mask`` values: nonzero = attend, 0 = masked; 1/0 float32.

    So a mask of 2s equals one of 1s, and 0.5 or -1 attend too (exactly ``mask != 0``, in every framework).
    """
    mask = tf.convert_to_tensor(mask)
    return tf.cast(tf.not_equal(mask, tf.zeros((), mask.dtype)), tf.float32)


def _extended_mask(mask: tf.Tensor) -> tf.Tensor:
    """[batch, keys] (or [batch, queries, keys]) mask -> [batch, 1, queries or 1, keys] 1/0 float mask.

    It stays 1/0 (not additive) because Keras casts float layer inputs to the compute dtype, and float16 cannot
    hold float32's most negative value; attention applies it in float32.
    """
    mask = keep_mask(mask)
    return mask[:, None, None, :] if mask.shape.rank == 2 else mask[:, None, :, :]


class TFBertMainLayer(keras.layers.Layer):
    """Embeddings, encoder and (optional) pooler: transformers' ``bert`` layer.

    ``skip_padding = True`` (encoders with a [batch, seq] mask): token-wise work (Dense, LayerNorm, activations)
    runs on the real tokens only, gathered as [tokens, hidden]; attention gathers them into its [batch, heads,
    seq] layout and back.
    Real tokens' outputs equal the padded computation's; padded positions of the hidden states are 0 (transformers
    leaves values computed from padding there). Set it before a ``tf.function`` traces the model.
    """

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        with scope(self):
            self.config = config
            self.skip_padding = False
            self.embeddings = TFBertEmbeddings(config, name="embeddings")
            self.encoder = TFBertEncoder(config, name="encoder")
            self.pooler = TFBertPooler(config, name="pooler") if add_pooling_layer else None
            self.built = True

    def _check(self, input_ids, token_type_ids, position_ids, seq_len, past_len):
        """Eagerly: ValueError from bert_core.checks. In a graph: assertions the lookups depend on."""
        c = self.config
        if _is_concrete(input_ids, token_type_ids, position_ids) and isinstance(past_len, int):
            np_ = [None if t is None else np.asarray(t) for t in (input_ids, token_type_ids, position_ids)]
            if np_[0] is not None:
                if np_[0].ndim != 2:
                    raise ValueError(f"input_ids must have shape [batch, seq], got {np_[0].shape}.")
                check_same_shape("input_ids", np_[0].shape, token_type_ids=np_[1], position_ids=np_[2])
            check_model_inputs(c, *np_, seq_len=int(seq_len), past_len=past_len)
            return input_ids, token_type_ids, position_ids
        asserts = []
        for t, limit, name, field in ((input_ids, c.vocab_size, "input_ids", "vocab_size"),
                                      (token_type_ids, c.type_vocab_size, "token_type_ids", "type_vocab_size"),
                                      (position_ids, c.max_position_embeddings, "position_ids",
                                       "max_position_embeddings")):
            if t is not None:
                msg = (f"{name} must lie in [0, {limit}) ({field}={limit}). Check that the tokenizer matches "
                       "the model.")
                asserts.append(tf.debugging.assert_non_negative(t, message=msg))
                asserts.append(tf.debugging.assert_less(tf.cast(t, tf.int64), tf.constant(limit, tf.int64),
                                                        message=msg))
        asserts.append(tf.debugging.assert_less_equal(
            tf.cast(seq_len + past_len, tf.int32), tf.constant(c.max_position_embeddings, tf.int32),
            message=f"Sequence length exceeds max_position_embeddings={c.max_position_embeddings}. Truncate the "
                    f"input (max_length={c.max_position_embeddings})."))
        with tf.control_dependencies([a for a in asserts if a is not None]):
            return tuple(None if t is None else tf.identity(t) for t in (input_ids, token_type_ids, position_ids))

    def call(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
             inputs_embeds=None, encoder_hidden_states=None, encoder_attention_mask=None, past_key_values=None,
             use_cache=False, output_attentions=False, output_hidden_states=False, training=False):
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Give exactly one of input_ids and inputs_embeds.")
        shape = tf.shape(input_ids) if input_ids is not None else tf.shape(inputs_embeds)[:-1]
        static = input_ids.shape if input_ids is not None else inputs_embeds.shape[:-1]
        batch, seq_len = shape[0], (static[-1] if static[-1] is not None else shape[-1])
        past_len = 0
        if past_key_values is not None:
            past_len = past_key_values[0][0].shape[2]
            past_len = tf.shape(past_key_values[0][0])[2] if past_len is None else int(past_len)
        input_ids, token_type_ids, position_ids = self._check(input_ids, token_type_ids, position_ids, seq_len,
                                                              past_len)
        if attention_mask is None:
            attention_mask = tf.ones((batch, seq_len + past_len), tf.int32)
        mask = keep_mask(attention_mask)
        if self.config.is_decoder:
            queries = tf.range(seq_len)[:, None] + past_len
            causal = tf.cast(tf.range(seq_len + past_len)[None, :] <= queries, tf.float32)
            mask = (mask[:, None, :] if mask.shape.rank == 2 else mask) * causal[None]
        extended = _extended_mask(mask)
        encoder_extended = None
        if encoder_hidden_states is not None:
            if encoder_attention_mask is None:
                encoder_attention_mask = tf.ones(tf.shape(encoder_hidden_states)[:2], tf.int32)
            encoder_extended = _extended_mask(encoder_attention_mask)
            encoder_hidden_states = tf.cast(encoder_hidden_states, self.compute_dtype)
        if head_mask is not None:
            head_mask = tf.cast(head_mask, self.compute_dtype)
            if head_mask.shape.rank == 1:
                head_mask = tf.tile(head_mask[None], (self.config.num_hidden_layers, 1))
            head_mask = head_mask[:, None, :, None, None]
        embeddings = self.embeddings(input_ids, token_type_ids=token_type_ids, position_ids=position_ids,
                                     inputs_embeds=inputs_embeds, past_length=past_len, training=training)
        token_index = None
        if self.skip_padding and not self.config.is_decoder and mask.shape.rank == 2:
            token_index = tf.cast(tf.where(tf.reshape(mask, (-1,)) > 0.5)[:, 0], tf.int32)
            embeddings = pack_tokens(embeddings, token_index)
        hidden, all_hidden, all_attn, all_cross, presents = self.encoder(
            embeddings, attention_mask=extended, head_mask=head_mask, encoder_hidden_states=encoder_hidden_states,
            encoder_attention_mask=encoder_extended, past_key_values=past_key_values, use_cache=use_cache,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states, training=training,
            token_index=token_index)
        if token_index is not None:  # one inverse index for every tensor unpacked
            inverse = inverse_index(token_index, batch * seq_len)
            hidden = unpack_tokens(hidden, token_index, batch, seq_len, inverse)
            if all_hidden is not None:
                all_hidden = tuple(unpack_tokens(h, token_index, batch, seq_len, inverse) for h in all_hidden)
        pooled = self.pooler(hidden) if self.pooler is not None else None
        return O.BaseModelOutputWithPoolingAndCrossAttentions(
            last_hidden_state=hidden, pooler_output=pooled, hidden_states=all_hidden, past_key_values=presents,
            attentions=all_attn, cross_attentions=all_cross)
