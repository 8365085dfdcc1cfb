"""Transformer blocks: intermediate, output, `BertLayer`, `BertEncoder`, `BertPooler`, and the activations."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from bert_torch.attention import BertAttention, BertSelfOutput


def _gelu_new(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def _gelu_fast(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))


# transformers' ACT2FN for every name BertConfig accepts.
ACT2FN = {
    "gelu": F.gelu,
    "gelu_new": _gelu_new,
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_fast": _gelu_fast,
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
    "tanh": torch.tanh,
    "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x),
}


class BertIntermediate(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = ACT2FN[config.hidden_act]

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.intermediate_act_fn(self.dense(hidden_states))


class BertOutput(BertSelfOutput):
    def __init__(self, config) -> None:
        super().__init__(config)
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)


class BertLayer(nn.Module):
    """Self attention, optional cross attention (``crossattention``, decoders only), feed-forward."""

    def __init__(self, config) -> None:
        super().__init__()
        self.attention = BertAttention(config)
        self.chunk_size_feed_forward = config.chunk_size_feed_forward
        self.is_decoder = config.is_decoder
        self.add_cross_attention = config.add_cross_attention
        if self.add_cross_attention:
            if not self.is_decoder:
                raise ValueError("add_cross_attention=True needs is_decoder=True: cross attention only exists in "
                                 "a decoder.")
            self.crossattention = BertAttention(config, position_embedding_type="absolute")
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None,
                encoder_attention_mask=None, past_key_value: tuple | None = None, output_attentions=False,
                use_cache=False):
        self_past = past_key_value[:2] if past_key_value is not None else None
        out, self_probs, present = self.attention(hidden_states, attention_mask, head_mask, None, self_past,
                                                  output_attentions, use_cache)
        cross_probs = None
        if self.is_decoder and encoder_hidden_states is not None:
            if not self.add_cross_attention:
                raise ValueError("encoder_hidden_states were given but the model has no cross attention; build it "
                                 "with add_cross_attention=True (and is_decoder=True).")
            cross_past = past_key_value[2:4] if past_key_value is not None and len(past_key_value) == 4 else None
            out, cross_probs, cross_present = self.crossattention(
                out, encoder_attention_mask, head_mask, encoder_hidden_states, cross_past, output_attentions,
                use_cache)
            if use_cache:
                present = present + cross_present
        chunk = self.chunk_size_feed_forward
        if chunk and out.shape[1] > chunk:  # transformers' feed-forward chunking: same result, less memory
            layer_output = torch.cat([self.output(self.intermediate(part), part) for part in out.split(chunk, 1)], 1)
        else:
            layer_output = self.output(self.intermediate(out), out)
        return layer_output, self_probs, cross_probs, present


class BertEncoder(nn.Module):
    """The stack of ``layer``s; runs each under activation checkpointing when ``gradient_checkpointing`` is on
    and the module is training (the cache is then off, as in transformers)."""

    def __init__(self, config) -> None:
        super().__init__()
        self.config = config
        self.layer = nn.ModuleList([BertLayer(config) for _ in range(config.num_hidden_layers)])
        self.gradient_checkpointing = False
        self.checkpoint_kwargs: dict = {"use_reentrant": False}

    def forward(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None,
                encoder_attention_mask=None, past_key_values=None, use_cache=False, output_attentions=False,
                output_hidden_states=False):
        """Returns ``(hidden_states, presents, all_hidden_states, all_attentions, all_cross_attentions)``."""
        checkpointing = self.gradient_checkpointing and self.training and torch.is_grad_enabled()
        if checkpointing:
            use_cache = False
        presents = () if use_cache else None
        all_hidden = () if output_hidden_states else None
        all_attn = () if output_attentions else None
        all_cross = () if output_attentions and self.config.add_cross_attention else None
        for i, layer in enumerate(self.layer):
            if output_hidden_states:
                all_hidden += (hidden_states,)
            args = (hidden_states, attention_mask, None if head_mask is None else head_mask[i],
                    encoder_hidden_states, encoder_attention_mask,
                    None if past_key_values is None else past_key_values[i], output_attentions, use_cache)
            if checkpointing:
                hidden_states, attn, cross, present = checkpoint(layer, *args, **self.checkpoint_kwargs)
            else:
                hidden_states, attn, cross, present = layer(*args)
            if use_cache:
                presents += (present,)
            if output_attentions:
                all_attn += (attn,)
                if all_cross is not None:
                    all_cross += (cross,)
        if output_hidden_states:
            all_hidden += (hidden_states,)
        return hidden_states, presents, all_hidden, all_attn, all_cross


class BertPooler(nn.Module):
    """tanh(dense(first token))."""

    def __init__(self, config) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(hidden_states[:, 0]))
