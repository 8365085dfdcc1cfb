"""`BertEmbeddings`: word + position + token type embeddings, LayerNorm and dropout (transformers' names)."""

from __future__ import annotations

import torch
from torch import nn


class BertEmbeddings(nn.Module):
    """Sum of word, (absolute) position and token type embeddings, then LayerNorm and dropout.

    With ``position_embedding_type`` ``relative_key`` / ``relative_key_query`` the ``position_embeddings`` table
    exists (checkpoints hold it) but is not added: positions enter through the attention scores instead.
    The ``position_ids`` buffer is not persistent, so it never lands in ``state_dict``.
    """

    def __init__(self, config) -> None:
        super().__init__()
        pad = config.pad_token_id
        pad = pad if isinstance(pad, int) and 0 <= pad < config.vocab_size else None
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=pad)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.position_embedding_type = config.position_embedding_type
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)),
                             persistent=False)

    def forward(self, input_ids: torch.Tensor | None = None, token_type_ids: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, inputs_embeds: torch.Tensor | None = None,
                past_key_values_length: int = 0) -> torch.Tensor:
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        batch, seq = inputs_embeds.shape[:2]
        if token_type_ids is None:
            token_type_ids = torch.zeros((batch, seq), dtype=torch.long, device=inputs_embeds.device)
        embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids)
        if self.position_embedding_type == "absolute":
            if position_ids is None:
                position_ids = self.position_ids[:, past_key_values_length: past_key_values_length + seq]
            embeddings += self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))
