"""`BertModel` (the base model every head wraps) and `HeadModel`, the base of the eight head classes."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bert_core import outputs as O
from bert_core.checks import check_model_inputs, check_same_shape
from bert_torch.embeddings import BertEmbeddings
from bert_core.heads import HEADS_BY_NAME
from bert_torch.layers import BertEncoder, BertPooler
from bert_torch.fast import FastEncoder
from bert_torch.masks import cross_attention_mask, self_attention_mask, tracing
from bert_torch.model_api import ModelApiMixin
from bert_torch.pretrained import BertPreTrainedModel


def hidden_dtype(model: nn.Module) -> torch.dtype:
    """The dtype the model's own layers compute in (its word embedding table's)."""
    return model.embeddings.word_embeddings.weight.dtype


class BertModel(ModelApiMixin, BertPreTrainedModel):
    """The BERT encoder (or decoder, with ``config.is_decoder``; cross attention with
    ``config.add_cross_attention``).

    Args:
        config: a ``bert_core.BertConfig`` (or a dict of its fields).
        add_pooling_layer: build ``pooler`` (tanh(dense(first token))).
        torch_dtype: cast the model to this dtype after initialisation (``torch.bfloat16``, ``"float16"``).
        seed: seed the weight initialisation (private generator).

    ``forward`` takes transformers' arguments. ``past_key_values`` (decoders) is a tuple with one entry per
    layer, ``(key, value)`` or ``(key, value, cross_key, cross_value)``, each ``[batch, heads, seq, head_dim]``
    (transformers' legacy layout); with ``use_cache`` (default ``config.use_cache`` for decoders) the output's
    ``past_key_values`` holds the updated cache. With ``attn_implementation="sdpa"`` the fused kernel runs
    unless attentions are requested, a ``head_mask`` is given or positions are relative (then eager runs).
    Inputs are checked before any kernel: out-of-range ids, too long sequences and mismatched shapes raise
    ``ValueError``.
    """

    def __init__(self, config, add_pooling_layer: bool = True, *, torch_dtype=None, seed: int | None = None,
                 _init: bool = True):
        super().__init__(config)
        self.embeddings = BertEmbeddings(self.config)
        self.encoder = BertEncoder(self.config)
        self.pooler = BertPooler(self.config) if add_pooling_layer else None
        self._fast: FastEncoder | None = None
        if _init:  # a head model initialises everything once, itself
            self.post_init(torch_dtype, seed)

    def optimize_for_inference(self, backend: str = "auto", dtype: torch.dtype | None = None,
                               attention: str = "auto", enabled: bool = True) -> BertModel:
        """Route eligible inference calls through the padding-free fast path (``bert_torch.fast``); returns self.

        ``backend``: ``"auto"`` (the fastest correct GEMM kernel, measured here on first use and cached per
        process; see ``bert_torch.kernels.dispatch_table()``), ``"aten"`` or ``"mkldnn"`` (prepacked oneDNN), or for a
        bf16 / fp16 model ``"aten-f32"`` / ``"mkldnn-f32"`` (the same GEMM on the float32 units).
        ``dtype``: compute dtype of the fast path (default: the model's). ``attention``: ``"auto"``,
        ``"padded"`` or ``"loop"``. ``enabled=False`` turns the fast path off again.

        Eligible: eval mode, no autograd, ``input_ids`` with a 2-D (or no) ``attention_mask``, absolute
        positions, an encoder (no decoder, cache or cross attention), no ``head_mask``, attentions or hidden
        states requested. Every other call runs the regular path. The outputs equal the regular path's on real
        tokens (float32: to ~1e-6); **padded positions of ``last_hidden_state`` are zeros** (transformers returns
        values computed for them), and ``pooler_output`` equals transformers' when position 0 is a real token.
        The weights are copied into packed form: call this again after changing them.
        """
        self._fast = FastEncoder(self, backend, dtype, attention) if enabled else None
        return self

    def __getstate__(self) -> dict:
        """Pickling and ``copy.deepcopy`` keep the fast path's options, not its packed (opaque) weights."""
        state = dict(super().__getstate__())
        fast = state.pop("_fast", None)
        state["_fast"], state["_fast_options"] = None, fast.options if fast is not None else None
        return state

    def __setstate__(self, state: dict) -> None:
        options = state.pop("_fast_options", None)
        super().__setstate__(state)
        if options is not None:
            self._fast = FastEncoder(self, **options)

    @property
    def fast_path(self) -> FastEncoder | None:
        """The padding-free inference path, or None unless ``optimize_for_inference()`` turned it on."""
        return self._fast

    def _fast_eligible(self, input_ids, attention_mask, head_mask, inputs_embeds, encoder_hidden_states,
                       past_key_values, use_cache, output_attentions, output_hidden_states) -> bool:
        fast = self._fast
        return (fast is not None and not self.training and not torch.is_grad_enabled() and input_ids is not None
                and inputs_embeds is None and head_mask is None and encoder_hidden_states is None
                and past_key_values is None and not use_cache and not output_attentions
                and not output_hidden_states and not self.config.is_decoder
                and self.config.position_embedding_type == "absolute" and input_ids.device == fast.device
                and (attention_mask is None or attention_mask.dim() == 2) and not tracing())

    def _check(self, input_ids, inputs_embeds, attention_mask, token_type_ids, position_ids, past_key_values):
        if input_ids is not None and inputs_embeds is not None:
            raise ValueError("Give input_ids or inputs_embeds, not both.")
        if input_ids is None and inputs_embeds is None:
            raise ValueError("Give input_ids (or inputs_embeds).")
        shape = tuple(input_ids.shape) if input_ids is not None else tuple(inputs_embeds.shape[:-1])
        if len(shape) != 2:
            raise ValueError(f"input_ids must have shape [batch, seq], got {shape}.")
        if inputs_embeds is not None and inputs_embeds.shape[-1] != self.config.hidden_size:
            raise ValueError(f"inputs_embeds has width {inputs_embeds.shape[-1]}, the model's hidden_size is "
                             f"{self.config.hidden_size}.")
        past_len = 0
        if past_key_values is not None:
            if len(past_key_values) != self.config.num_hidden_layers:
                raise ValueError(f"past_key_values has {len(past_key_values)} entries; the model has "
                                 f"{self.config.num_hidden_layers} layers (one (key, value[, cross_key, "
                                 "cross_value]) tuple per layer).")
            past_len = int(past_key_values[0][0].shape[-2])
        name = "input_ids" if input_ids is not None else "inputs_embeds[..., 0]"
        check_same_shape(name, shape, token_type_ids=token_type_ids, position_ids=position_ids)
        if attention_mask is not None and attention_mask.dim() == 2:
            check_same_shape(f"past + {name}", (shape[0], past_len + shape[1]), attention_mask=attention_mask)
        if torch.compiler.is_exporting():  # ids are symbolic under torch.export: only the length check applies
            check_model_inputs(self.config, seq_len=shape[1], past_len=past_len)
        else:
            check_model_inputs(self.config, input_ids, token_type_ids, position_ids, seq_len=shape[1],
                               past_len=past_len)
        return shape, past_len

    def forward(self, input_ids: Tensor | None = None, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None, position_ids: Tensor | None = None,
                head_mask: Tensor | None = None, inputs_embeds: Tensor | None = None,
                encoder_hidden_states: Tensor | None = None, encoder_attention_mask: Tensor | None = None,
                past_key_values: tuple[tuple[Tensor, ...], ...] | None = None, use_cache: bool | None = None,
                output_attentions: bool | None = None, output_hidden_states: bool | None = None,
                return_dict: bool | None = None) -> O.BaseModelOutputWithPoolingAndCrossAttentions | tuple:
        """Encode ``input_ids`` ``[batch, seq]`` (or ``inputs_embeds`` ``[batch, seq, hidden]``).

        ``attention_mask`` is nonzero (usually 1) for tokens to attend to, 0 for padding (``[batch, past + seq]``,
        or ``[batch, seq, past + seq]``); ``head_mask`` is ``[heads]`` or ``[layers, heads]`` (1 keeps a head).
        Decoders add the causal mask themselves. Returns the output dataclass, or its tuple with
        ``return_dict=False`` (the default in TorchScript mode, ``config.torchscript``).
        """
        cfg = self.config
        output_attentions = cfg.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = cfg.output_hidden_states if output_hidden_states is None else output_hidden_states
        return_dict = self._use_return_dict(return_dict)
        use_cache = (cfg.use_cache if use_cache is None else use_cache) if cfg.is_decoder else False
        (batch, seq), past_len = self._check(input_ids, inputs_embeds, attention_mask, token_type_ids,
                                             position_ids, past_key_values)
        if self._fast_eligible(input_ids, attention_mask, head_mask, inputs_embeds, encoder_hidden_states,
                               past_key_values, use_cache, output_attentions, output_hidden_states):
            seq_out = self._fast(input_ids, attention_mask, token_type_ids, position_ids).to(hidden_dtype(self))
            pooled = self.pooler(seq_out) if self.pooler is not None else None
            out = O.BaseModelOutputWithPoolingAndCrossAttentions(last_hidden_state=seq_out, pooler_output=pooled)
            return out if return_dict else out.return_tuple()
        hidden = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds, past_len)
        mask = self_attention_mask(attention_mask, batch, seq, past_len, cfg.is_decoder, hidden.dtype,
                                   hidden.device)
        enc_mask = None
        if cfg.is_decoder and encoder_hidden_states is not None:
            enc_mask = cross_attention_mask(encoder_attention_mask, hidden.dtype)
        if head_mask is not None:
            head_mask = head_mask.to(hidden.dtype)
            if head_mask.dim() == 1:
                head_mask = head_mask.expand(cfg.num_hidden_layers, -1)
            head_mask = head_mask[:, None, :, None, None]  # [layers, 1, heads, 1, 1]
        seq_out, presents, all_hidden, all_attn, all_cross = self.encoder(
            hidden, mask, head_mask, encoder_hidden_states, enc_mask, past_key_values, use_cache,
            output_attentions, output_hidden_states)
        out = O.BaseModelOutputWithPoolingAndCrossAttentions(
            last_hidden_state=seq_out, pooler_output=self.pooler(seq_out) if self.pooler is not None else None,
            hidden_states=all_hidden, past_key_values=presents, attentions=all_attn, cross_attentions=all_cross)
        return out if return_dict else out.return_tuple()


class HeadModel(ModelApiMixin, BertPreTrainedModel):
    """A head on ``self.bert``; subclasses build their head in ``_build_head``. Whether ``self.bert`` has a
    pooler comes from the head table (``bert_core.heads``), keyed by the class name."""

    _pooling = True

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__name__ in HEADS_BY_NAME:
            cls._pooling = HEADS_BY_NAME[cls.__name__].pooled

    def __init__(self, config, *, torch_dtype=None, seed: int | None = None):
        super().__init__(config)
        self.bert = BertModel(self.config, add_pooling_layer=self._pooling, _init=False)
        self._build_head()
        self.post_init(torch_dtype, seed)

    def _build_head(self) -> None:
        raise NotImplementedError

    def optimize_for_inference(self, backend: str = "auto", dtype: torch.dtype | None = None,
                               attention: str = "auto", enabled: bool = True) -> HeadModel:
        """Turn on ``self.bert``'s padding-free inference path (see ``BertModel.optimize_for_inference``)."""
        self.bert.optimize_for_inference(backend, dtype, attention, enabled)
        return self

    def _classifier_dropout(self) -> nn.Dropout:
        p = self.config.classifier_dropout
        return nn.Dropout(self.config.hidden_dropout_prob if p is None else p)

    def _encode(self, input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                output_attentions, output_hidden_states, **extra):
        return self.bert(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                         output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                         return_dict=True, **extra)

    def _finish(self, out: O.ModelOutput, return_dict: bool | None):
        """The output dataclass, or transformers' tuple (``return_dict=False``, or TorchScript mode)."""
        return out if self._use_return_dict(return_dict) else out.return_tuple()


