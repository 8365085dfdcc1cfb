"""`BertPreTrainedModel`: what every model class shares (init, tying, resizing, checkpointing, dtype)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from bert_core.config import BertConfig
from bert_torch.checkpoint import CheckpointMixin, resolve_dtype  # noqa: F401 (resolve_dtype re-exported)
from bert_torch.heads import BertLMPredictionHead

class BertPreTrainedModel(CheckpointMixin, nn.Module):
    """Base of every BERT model class.

    Subclasses build their modules in ``__init__`` and then call ``self.post_init(torch_dtype, seed)``, which
    initialises weights as transformers does (normal(0, initializer_range) for Linear and Embedding weights,
    zero biases and padding row, LayerNorm ones / zeros), ties the MLM decoder to the word embeddings when
    ``config.tie_word_embeddings``, and casts to ``torch_dtype``. ``seed`` makes the initialisation
    reproducible whatever the global RNG's state (a private generator per device).
    """

    base_model_prefix = "bert"
    config_class = BertConfig

    def __init__(self, config: BertConfig | dict) -> None:
        super().__init__()
        if isinstance(config, dict):
            config = BertConfig(**config)
        if not isinstance(config, BertConfig):
            raise TypeError(f"config must be a bert_core.BertConfig (or a dict of its fields), got "
                            f"{type(config).__name__}.")
        config.validate_for_model()
        self.config = config

    # -- initialisation and tying ---------------------------------------------------------------------------
    def post_init(self, torch_dtype: Any = None, seed: int | None = None) -> None:
        self.init_weights(seed)
        dtype = resolve_dtype(torch_dtype, self.config)
        if dtype is not None:
            self.to(dtype)

    @torch.no_grad()
    def init_weights(self, seed: int | None = None) -> None:
        """(Re-)initialise every weight as transformers does, then tie; ``seed`` uses a private generator."""
        generators: dict[torch.device, torch.Generator] = {}

        def normal_(weight: torch.Tensor) -> None:
            gen = None
            if seed is not None and weight.device.type != "meta":  # one seeded generator per device
                if weight.device not in generators:
                    generators[weight.device] = torch.Generator(device=weight.device).manual_seed(seed)
                gen = generators[weight.device]
            nn.init.normal_(weight, 0.0, std, generator=gen)

        std = self.config.initializer_range
        for module in self.modules():
            if isinstance(module, nn.Linear):
                normal_(module.weight)
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.Embedding):
                normal_(module.weight)
                if module.padding_idx is not None:
                    module.weight[module.padding_idx].zero_()
            elif isinstance(module, nn.LayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()
            elif isinstance(module, BertLMPredictionHead):
                module.bias.zero_()
        self.tie_weights()

    @property
    def base_model(self) -> nn.Module:
        return getattr(self, self.base_model_prefix, self)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.base_model.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.base_model.embeddings.word_embeddings = value

    def get_output_embeddings(self) -> nn.Linear | None:
        cls = getattr(self, "cls", None)
        predictions = getattr(cls, "predictions", None)
        return None if predictions is None else predictions.decoder

    def weights_tied(self) -> bool:
        """True when the MLM decoder shares its weight with the word embeddings."""
        out = self.get_output_embeddings()
        return out is not None and out.weight is self.get_input_embeddings().weight

    def tie_weights(self) -> None:
        """Share the MLM decoder weight with the word embeddings (if ``tie_word_embeddings``) and keep
        ``decoder.bias`` the same Parameter as ``predictions.bias``."""
        out = self.get_output_embeddings()
        if out is None:
            return
        if self.config.tie_word_embeddings:
            out.weight = self.get_input_embeddings().weight
        self.cls.predictions._tie_weights()

    @torch.no_grad()
    def resize_token_embeddings(self, new_num_tokens: int | None = None,
                                pad_to_multiple_of: int | None = None) -> nn.Embedding:
        """Grow or shrink the vocabulary: old rows are kept, new rows initialised; the MLM decoder and its bias
        follow, and tying is kept. Updates ``config.vocab_size``. Returns the new embedding."""
        old = self.get_input_embeddings()
        if new_num_tokens is None and pad_to_multiple_of is None:
            return old
        n = old.num_embeddings if new_num_tokens is None else int(new_num_tokens)
        if pad_to_multiple_of:
            n = -(-n // pad_to_multiple_of) * pad_to_multiple_of
        if n <= 0:
            raise ValueError(f"new_num_tokens must be positive, got {n}.")
        keep = min(n, old.num_embeddings)
        pad = old.padding_idx if old.padding_idx is not None and old.padding_idx < n else None
        new = nn.Embedding(n, old.embedding_dim, padding_idx=pad, device=old.weight.device, dtype=old.weight.dtype)
        new.weight.normal_(0.0, self.config.initializer_range)
        new.weight[:keep] = old.weight[:keep]
        self.set_input_embeddings(new)
        decoder = self.get_output_embeddings()
        if decoder is not None:
            predictions = self.cls.predictions
            old_bias = predictions.bias
            bias = torch.zeros(n, device=old_bias.device, dtype=old_bias.dtype)
            bias[:keep] = old_bias[:keep]
            predictions.bias = nn.Parameter(bias)
            if not self.config.tie_word_embeddings:
                weight = torch.empty(n, decoder.in_features, device=decoder.weight.device, dtype=decoder.weight.dtype)
                weight.normal_(0.0, self.config.initializer_range)
                weight[:keep] = decoder.weight[:keep]
                decoder.weight = nn.Parameter(weight)
            decoder.out_features = n
        self.config.vocab_size = n
        self.tie_weights()
        return new

    def set_attn_implementation(self, attn_implementation: str) -> None:
        """Switch every attention layer to ``"eager"`` or ``"sdpa"`` (and record it in the config)."""
        from bert_core.config import ATTN_IMPLEMENTATIONS
        from bert_torch.attention import BertSelfAttention
        if attn_implementation not in ATTN_IMPLEMENTATIONS:
            raise ValueError(f"attn_implementation {attn_implementation!r} is unknown; choose one of "
                             f"{', '.join(ATTN_IMPLEMENTATIONS)}.")
        self.config.attn_implementation = attn_implementation
        for module in self.modules():
            if isinstance(module, BertSelfAttention):
                module.attn_implementation = attn_implementation

    # -- training conveniences ------------------------------------------------------------------------------
    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict | None = None) -> None:
        """Recompute each layer's activations in the backward pass (training only; turns the cache off).

        ``gradient_checkpointing_kwargs`` go to ``torch.utils.checkpoint.checkpoint`` (default
        ``use_reentrant=False``)."""
        encoder = self.base_model.encoder
        encoder.gradient_checkpointing = True
        encoder.checkpoint_kwargs = {"use_reentrant": False, **(gradient_checkpointing_kwargs or {})}

    def gradient_checkpointing_disable(self) -> None:
        self.base_model.encoder.gradient_checkpointing = False

    @property
    def is_gradient_checkpointing(self) -> bool:
        return self.base_model.encoder.gradient_checkpointing

    def num_parameters(self, only_trainable: bool = False, exclude_embeddings: bool = False) -> int:
        """Number of (distinct: tied weights count once) parameters."""
        skip = set()
        if exclude_embeddings:
            skip = {id(m.weight) for m in self.modules() if isinstance(m, nn.Embedding)}
        return sum(p.numel() for p in self.parameters()
                   if id(p) not in skip and (p.requires_grad or not only_trainable))

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device
