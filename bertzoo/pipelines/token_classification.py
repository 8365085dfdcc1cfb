"""token-classification (named entities): a label per token or per entity, with character offsets.

Aggregation follows transformers: "none" (one entry per token), "simple" (adjacent tokens with the same
entity type, B-/I- prefixes understood, grouped), and "first" / "max" / "average" (the label of a word is taken
from its first piece, its most confident piece, or the mean of its pieces' scores, before grouping).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bertzoo.pipelines.base import Pipeline, Row
from bertzoo.pipelines.scores import softmax

STRATEGIES = ("none", "simple", "first", "max", "average")


def _split_tag(label: str) -> tuple[bool, str]:
    """("B-PER") -> (True, "PER"); ("I-PER") -> (False, "PER"); ("PER") -> (False, "PER")."""
    if label.startswith("B-"):
        return True, label[2:]
    if label.startswith("I-"):
        return False, label[2:]
    return False, label


class TokenClassificationPipeline(Pipeline):
    """``pipe(text, aggregation_strategy="none", ignore_labels=("O",))`` -> list of entity dicts."""

    task = "token-classification"
    head = "BertForTokenClassification"

    def preprocess(self, text: str, **kwargs: Any) -> list[Row]:
        ids, offsets, tokens = self.encode_words(text)
        row = self.single_row(ids, offsets=offsets, tokens=tokens)
        return [row]

    def _pre_entities(self, text: str, row: Row, logits: np.ndarray) -> list[dict[str, Any]]:
        n = len(row.input_ids) - 2  # the tokens between [CLS] and [SEP]
        scores = softmax(logits[1:1 + n])
        entities = []
        for i in range(n):
            start, end = row.extra["offsets"][i]
            token = row.extra["tokens"][i]
            if token == self.tokenizer.unk_token:  # as transformers: the text itself, a word of its own
                token = text[start:end]
            entities.append({"word": token, "scores": scores[i], "start": int(start), "end": int(end),
                             "index": i + 1, "is_subword": token.startswith("##")})
        return entities

    def _label(self, scores: np.ndarray) -> tuple[str, float]:
        best = int(np.argmax(scores))
        return self.config.id2label[best], float(scores[best])

    def _words(self, text: str, pre: list[dict[str, Any]], strategy: str) -> list[dict[str, Any]]:
        groups: list[list[dict[str, Any]]] = []
        for entity in pre:
            if entity["is_subword"] and groups:
                groups[-1].append(entity)
            else:
                groups.append([entity])
        words = []
        for group in groups:
            if strategy == "first":
                scores = group[0]["scores"]
            elif strategy == "max":
                scores = max(group, key=lambda e: e["scores"].max())["scores"]
            else:
                scores = np.mean([e["scores"] for e in group], axis=0)
            label, score = self._label(scores)
            words.append({"entity": label, "score": score, "start": group[0]["start"], "end": group[-1]["end"],
                          "word": self.tokenizer.convert_tokens_to_string([e["word"] for e in group])})
        return words

    def _group(self, text: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
        groups: list[list[dict[str, Any]]] = []
        for entity in entities:
            is_begin, tag = _split_tag(entity["entity"])
            if groups and not is_begin and _split_tag(groups[-1][-1]["entity"])[1] == tag:
                groups[-1].append(entity)
            else:
                groups.append([entity])
        return [{"entity_group": _split_tag(group[0]["entity"])[1],
                 "score": float(np.mean([e["score"] for e in group])),
                 # as transformers: the tokens joined back (lower-cased for an uncased model)
                 "word": self.tokenizer.convert_tokens_to_string([e["word"] for e in group]),
                 "start": group[0]["start"], "end": group[-1]["end"]} for group in groups]

    def postprocess(self, text: str, rows: list[Row], outputs: list[dict[str, np.ndarray]],
                    aggregation_strategy: str = "none", ignore_labels: tuple[str, ...] = ("O",),
                    **kwargs: Any) -> list[dict[str, Any]]:
        if aggregation_strategy not in STRATEGIES:
            raise ValueError(f"aggregation_strategy {aggregation_strategy!r} is unknown; choose one of "
                             f"{', '.join(STRATEGIES)}.")
        pre = self._pre_entities(text, rows[0], outputs[0]["logits"])
        if aggregation_strategy in ("none", "simple"):
            entities = []
            for e in pre:
                label, score = self._label(e["scores"])
                entities.append({"entity": label, "score": score, "index": e["index"], "word": e["word"],
                                 "start": e["start"], "end": e["end"]})
            if aggregation_strategy == "simple":
                entities = self._group(text, entities)
        else:
            entities = self._group(text, self._words(text, pre, aggregation_strategy))
        key = "entity" if aggregation_strategy == "none" else "entity_group"
        return [e for e in entities if e[key] not in ignore_labels]
