"""``generate()`` for `BertLMHeadModel`: greedy decoding and sampling (temperature, top-k, top-p) on the key/value
cache, with transformers v4's argument names. The arguments and stopping rules are framework-free
(``bert_core.generation``); this module holds the torch loop and the logits warpers.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from bert_core.generation import GenerationConfig


def warp_logits(scores: Tensor, config: GenerationConfig) -> Tensor:
    """transformers' sampling warpers in their order: temperature, top-k, top-p (filtered entries -> -inf).
    ``scores`` is ``[batch, vocab]`` float; at least one token always survives."""
    if config.temperature != 1.0:
        scores = scores / config.temperature
    if config.top_k:
        k = min(config.top_k, scores.shape[-1])
        kth = torch.topk(scores, k, dim=-1).values[..., -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if config.top_p < 1.0:
        ordered, order = torch.sort(scores, dim=-1)  # ascending, as transformers
        cumulative = ordered.softmax(dim=-1).cumsum(dim=-1)
        drop = cumulative <= 1 - config.top_p
        drop[..., -1] = False  # the most likely token stays
        scores = scores.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return scores


class GenerationMixin:
    """Adds ``generate`` to a causal LM whose ``forward`` takes ``past_key_values`` / ``use_cache``.

    ``model.generation_config`` (built from the model config on first use, as transformers') holds the defaults
    ``generate`` starts from; set its fields, or assign a new ``GenerationConfig``, to change them.
    """

    @property
    def generation_config(self) -> GenerationConfig:
        config = self.__dict__.get("_generation_config")
        if config is None:
            config = self.__dict__["_generation_config"] = GenerationConfig.from_model_config(self.config)
        return config

    @generation_config.setter
    def generation_config(self, value: GenerationConfig) -> None:
        if not isinstance(value, GenerationConfig):
            raise TypeError(f"generation_config must be a bert_core.generation.GenerationConfig, got "
                            f"{type(value).__name__}.")
        self.__dict__["_generation_config"] = value

    @torch.no_grad()
    def generate(self, input_ids: Tensor | None = None, attention_mask: Tensor | None = None,
                 generation_config: GenerationConfig | None = None, encoder_hidden_states: Tensor | None = None,
                 encoder_attention_mask: Tensor | None = None, **kwargs: Any) -> Tensor:
        """Continue ``input_ids`` ``[batch, prompt]``; returns ``[batch, prompt + new]`` token ids.

        Keyword arguments are ``bert_core.generation.GenerationConfig``'s fields (transformers' names):
        ``max_new_tokens`` / ``max_length``, ``do_sample``, ``temperature``, ``top_k``, ``top_p``,
        ``eos_token_id``, ``pad_token_id``, ``bos_token_id``, ``use_cache``; they update ``generation_config``
        (default: ``model.generation_config``, whose bos / eos / pad ids come from the model config).
        ``inputs`` is accepted for ``input_ids``, as in transformers.

        Greedy unless ``do_sample``; sampling draws from torch's global RNG, so ``torch.manual_seed`` makes it
        reproducible. A row that emits an eos id is finished: later positions hold ``pad_token_id``. Without
        ``attention_mask``, pad tokens of the prompt are masked (when pad != eos), as in transformers. Positions
        count from the first column, padded or not (transformers' behaviour for BERT), so a left-padded row sees
        shifted positions. Dropout is active in train mode, as in transformers: call ``model.eval()`` first.
        """
        if "inputs" in kwargs:  # transformers' name for the first argument
            if input_ids is not None:
                raise TypeError("generate() got both input_ids and inputs; give one.")
            input_ids = kwargs.pop("inputs")
        config = GenerationConfig.from_model_config(self.config, generation_config or self.generation_config,
                                                    **kwargs)
        device = self.device
        if input_ids is None:
            if config.bos_token_id is None:
                raise ValueError("generate() needs input_ids, or a bos_token_id to start from.")
            batch = 1 if encoder_hidden_states is None else encoder_hidden_states.shape[0]
            input_ids = torch.full((batch, 1), config.bos_token_id, dtype=torch.long, device=device)
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be [batch, prompt], got shape {tuple(input_ids.shape)}.")
        batch, prompt_len = input_ids.shape
        total = config.total_length(prompt_len, self.config.max_position_embeddings)
        if attention_mask is None:
            pad = config.pad_token_id
            attention_mask = torch.ones_like(input_ids)
            if pad is not None and pad not in config.eos_ids and bool((input_ids == pad).any()):
                attention_mask = (input_ids != pad).long()
        else:
            attention_mask = (attention_mask != 0).long()  # nonzero = keep, as in forward
        fill = config.fill_id
        unfinished = torch.ones(batch, dtype=torch.bool, device=input_ids.device)
        eos = torch.tensor(config.eos_ids, dtype=input_ids.dtype, device=input_ids.device)
        sequence, past = input_ids, None
        while sequence.shape[1] < total:
            step = sequence[:, -1:] if past is not None else sequence
            out = self(step, attention_mask=attention_mask, encoder_hidden_states=encoder_hidden_states,
                       encoder_attention_mask=encoder_attention_mask, past_key_values=past,
                       use_cache=config.use_cache, return_dict=True)
            scores = out.logits[:, -1, :].float()
            if config.do_sample:
                token = torch.multinomial(warp_logits(scores, config).softmax(dim=-1), num_samples=1).squeeze(1)
            else:
                token = scores.argmax(dim=-1)
            if fill is not None:
                token = torch.where(unfinished, token, torch.full_like(token, fill))
            sequence = torch.cat([sequence, token[:, None]], dim=1)
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones(batch, 1)], dim=1)
            if eos.numel():
                unfinished &= ~torch.isin(token, eos)
                if not bool(unfinished.any()):
                    break
            past = out.past_key_values if config.use_cache else None
        return sequence
