"""question-answering: the best answer span in a context, with its text and character offsets.

Long contexts are split into windows of at most ``max_seq_len`` tokens that overlap by ``doc_stride`` tokens;
each window is one model row. A span's rank is its start logit plus end logit (the span may not cross the
question or special tokens, must end at or after its start, and is at most ``max_answer_len`` tokens); its
reported score is the product of the start and end probabilities within its window, as transformers reports it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bert_core.pipelines.base import Pipeline, Row
from bert_core.pipelines.scores import softmax


class QuestionAnsweringPipeline(Pipeline):
    """``pipe({"question": q, "context": c}, top_k=1, doc_stride=128, max_answer_len=15, max_seq_len=384)``."""

    task = "question-answering"
    head = "BertForQuestionAnswering"
    token_outputs = ("start_logits", "end_logits")

    def preprocess(self, item: dict, doc_stride: int = 128, max_seq_len: int = 384, max_question_len: int = 64,
                   **kwargs: Any) -> list[Row]:
        if not isinstance(item, dict) or "question" not in item or "context" not in item:
            raise ValueError("question-answering takes {'question': ..., 'context': ...} inputs.")
        question_ids = self.encode_words(item["question"])[0][:max_question_len]
        context_ids, offsets, _ = self.encode_words(item["context"])
        width = min(max_seq_len, self.max_length) - len(question_ids) - 3
        if width < 1:
            raise ValueError(f"max_seq_len={max_seq_len} leaves no room for the context after the question.")
        stride = max(1, min(doc_stride, width))
        rows, start = [], 0
        while True:
            window = context_ids[start:start + width]
            row = self.single_row(question_ids, window)
            row.extra.update(context_start=len(question_ids) + 2, offsets=offsets[start:start + width])
            rows.append(row)
            if start + width >= len(context_ids):
                return rows
            start += stride

    def postprocess(self, item: dict, rows: list[Row], outputs: list[dict[str, np.ndarray]], top_k: int = 1,
                    max_answer_len: int = 15, **kwargs: Any) -> Any:
        candidates = []
        for row, out in zip(rows, outputs):
            first, offsets = row.extra["context_start"], row.extra["offsets"]
            start_logits = out["start_logits"][first:first + len(offsets)].astype(np.float64)
            end_logits = out["end_logits"][first:first + len(offsets)].astype(np.float64)
            if not len(offsets):
                continue
            start_probs = softmax(start_logits)
            end_probs = softmax(end_logits)
            rank = start_logits[:, None] + end_logits[None, :]
            valid = np.triu(np.ones_like(rank, bool)) & ~np.triu(np.ones_like(rank, bool), max_answer_len)
            rank = np.where(valid, rank, -np.inf)
            for flat in np.argsort(-rank, axis=None, kind="stable")[:top_k]:
                s, e = np.unravel_index(flat, rank.shape)
                candidates.append((float(rank[s, e]), float(start_probs[s] * end_probs[e]),
                                   int(offsets[s][0]), int(offsets[e][1])))
        candidates.sort(key=lambda c: -c[0])
        seen, answers = set(), []
        for _, score, start, end in candidates:
            if (start, end) in seen:
                continue
            seen.add((start, end))
            answers.append({"score": score, "start": start, "end": end, "answer": item["context"][start:end]})
            if len(answers) == top_k:
                break
        return answers[0] if top_k == 1 else answers
