"""Feed-forward blocks, ``TFBertLayer``, the encoder stack and the pooler (transformers' TF layer names)."""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from bert_core.config import BertConfig
from bert_tf.attention import TFBertAttention, _dense


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


class TFBertIntermediate(keras.layers.Layer):
    def __init__(self, config: BertConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dense = _dense(config, config.intermediate_size, "dense", config.hidden_size)
        self.act = ACTIVATIONS[config.hidden_act]
        self.built = True

    def call(self, hidden_states):
        return self.act(self.dense(hidden_states))


class TFBertOutput(keras.layers.Layer):
    def __init__(self, config: BertConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dense = _dense(config, config.hidden_size, "dense", config.intermediate_size)
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
             encoder_attention_mask=None, past_key_value=None, output_attentions=False, training=False):
        self_past = past_key_value[:2] if past_key_value is not None else None
        attn_out, self_probs, present = self.attention(
            hidden_states, attention_mask=attention_mask, head_mask=head_mask, past_key_value=self_past,
            output_attentions=output_attentions, training=training)
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
        self.layer = [TFBertLayer(config, name=f"layer_._{i}") for i in range(config.num_hidden_layers)]
        self.built = True

    def call(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None,
             encoder_attention_mask=None, past_key_values=None, use_cache=False, output_attentions=False,
             output_hidden_states=False, training=False):
        all_hidden = (hidden_states,) if output_hidden_states else None
        all_attn = () if output_attentions else None
        all_cross = () if output_attentions and encoder_hidden_states is not None else None
        presents = () if use_cache else None
        for i, layer in enumerate(self.layer):
            past = past_key_values[i] if past_key_values is not None else None
            hidden_states, probs, cross, present = layer(
                hidden_states, attention_mask=attention_mask, head_mask=None if head_mask is None else head_mask[i],
                encoder_hidden_states=encoder_hidden_states, encoder_attention_mask=encoder_attention_mask,
                past_key_value=past, output_attentions=output_attentions, training=training)
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
        self.dense = _dense(config, config.hidden_size, "dense", config.hidden_size)
        self.built = True

    def call(self, hidden_states):
        return tf.tanh(self.dense(hidden_states[:, 0]))
