"""feature-extraction (token vectors) and sentence-embedding (mean pooling, as sentence-transformers)."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from bertzoo.pipelines.base import Pipeline, Row


class FeatureExtractionPipeline(Pipeline):
    """``pipe(text)`` -> array [tokens, hidden]: the last hidden state, special tokens included."""

    task = "feature-extraction"
    head = "BertModel"

    def preprocess(self, text: str, **kwargs: Any) -> list[Row]:
        return [self.single_row(self.encode_words(text)[0])]

    def postprocess(self, text: str, rows: list[Row], outputs: list[dict[str, np.ndarray]], **kwargs: Any) -> Any:
        return outputs[0]["last_hidden_state"]


class SentenceEmbeddingPipeline(FeatureExtractionPipeline):
    """``pipe(text, normalize=True)`` -> array [hidden]: the mean of the token vectors over the attention mask.

    This is how sentence-transformers models such as all-MiniLM-L6-v2 are used (mean pooling, then L2
    normalisation), truncating at the ``max_seq_length`` of the folder's ``sentence_bert_config.json`` when there is
    one. Padding never enters the mean: rows are trimmed to their own length before pooling.
    """

    task = "sentence-embedding"

    def __init__(self, model: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(model, *args, **kwargs)
        # sentence-transformers models state the length they were trained at (all-MiniLM-L6-v2: 256 tokens)
        settings = os.path.join(model, "sentence_bert_config.json")
        if os.path.isfile(settings):
            with open(settings, encoding="utf-8") as f:
                self.max_length = min(self.max_length, int(json.load(f).get("max_seq_length") or self.max_length))

    def postprocess(self, text: str, rows: list[Row], outputs: list[dict[str, np.ndarray]], normalize: bool = True,
                    **kwargs: Any) -> Any:
        vectors = np.asarray(outputs[0]["last_hidden_state"], np.float64)
        embedding = vectors.mean(axis=0)
        if normalize:
            embedding = embedding / max(np.linalg.norm(embedding), 1e-12)
        return embedding.astype(np.float32)
