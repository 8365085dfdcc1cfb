"""question-answering: the best answer span in a context, with its text and character offsets.

As transformers does it: long contexts are split into windows of at most ``max_seq_len`` tokens that overlap by
``doc_stride`` tokens, each window one model row. In each window the start and end logits are turned into
probabilities with a softmax over the context tokens and [CLS] (question and other special tokens masked), a
span scores start probability x end probability (it may not end before it starts and is at most
``max_answer_len`` tokens), and the best spans of all windows are sorted by that score. Spans are widened to
whole words (``align_to_words=True``) before their text is cut from the context.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bertzoo.pipelines.base import Pipeline, Row
from bertzoo.pipelines.scores import softmax

_MASKED = -10000.0  # transformers' value for tokens that cannot be part of an answer


class QuestionAnsweringPipeline(Pipeline):
    """``pipe({"question": q, "context": c}, top_k=1, doc_stride=None, max_answer_len=15, max_seq_len=None)``.

    ``max_seq_len`` defaults to min(model length, 384) and ``doc_stride`` to min(window // 2, 128), as in
    transformers. Returns ``{"score", "start", "end", "answer"}`` (a list of them when top_k > 1).
    """

    task = "question-answering"
    head = "BertForQuestionAnswering"

    def preprocess(self, item: dict, doc_stride: int | None = None, max_seq_len: int | None = None,
                   max_question_len: int = 64, **kwargs: Any) -> list[Row]:
        if not isinstance(item, dict) or "question" not in item or "context" not in item:
            raise ValueError("question-answering takes {'question': ..., 'context': ...} inputs.")
        if not str(item["question"]).strip() or not str(item["context"]).strip():
            raise ValueError("question-answering needs a non-empty question and a non-empty context.")
        question_ids = self.encode_words(item["question"])[0][:max_question_len]
        context_ids, offsets, tokens = self.encode_words(item["context"])
        max_seq_len = min(max_seq_len or 384, self.max_length)
        width = max_seq_len - len(question_ids) - 3
        if width < 1:
            raise ValueError(f"max_seq_len={max_seq_len} leaves no room for the context after the question.")
        overlap = min(width // 2, 128) if doc_stride is None else doc_stride
        if not 0 <= overlap < width:
            raise ValueError(f"doc_stride={overlap} must be smaller than the context window ({width} tokens with "
                             f"max_seq_len={max_seq_len} and this question).")
        rows, start = [], 0
        while True:
            row = self.single_row(question_ids, context_ids[start:start + width])
            row.extra.update(context_start=len(question_ids) + 2, first_token=start,
                             offsets=offsets, tokens=tokens)
            rows.append(row)
            if start + width >= len(context_ids):
                return rows
            start += width - overlap

    @staticmethod
    def _word_bounds(tokens: list[str], first: int, last: int) -> tuple[int, int]:
        """Widen the token span [first, last] to whole words (a word's pieces after the first start with ##)."""
        while first > 0 and tokens[first].startswith("##"):
            first -= 1
        while last + 1 < len(tokens) and tokens[last + 1].startswith("##"):
            last += 1
        return first, last

    def __call__(self, *args: Any, question: Any = None, context: Any = None, **kwargs: Any) -> Any:
        """``pipe({"question": q, "context": c})``, ``pipe([{...}, ...])``, ``pipe(question=q, context=c)`` (lists
        of questions and contexts pair up) or ``pipe(q, c)``, as transformers v4 accepts them."""
        if question is not None or context is not None:
            if args or question is None or context is None:
                raise ValueError("question-answering takes question= and context= together, or inputs, not both.")
            if isinstance(question, str) and isinstance(context, str):
                return super().__call__({"question": question, "context": context}, **kwargs)
            questions = [question] * len(context) if isinstance(question, str) else list(question)
            contexts = [context] * len(questions) if isinstance(context, str) else list(context)
            if len(questions) != len(contexts):
                raise ValueError(f"{len(questions)} questions for {len(contexts)} contexts: give as many of each.")
            return super().__call__([{"question": q, "context": c} for q, c in zip(questions, contexts)], **kwargs)
        if len(args) == 2 and all(isinstance(a, str) for a in args):
            return super().__call__({"question": args[0], "context": args[1]}, **kwargs)
        if len(args) != 1:
            raise ValueError("question-answering takes one input (a dict or a list of dicts), or question= and "
                             "context=.")
        return super().__call__(args[0], **kwargs)

    def postprocess(self, item: dict, rows: list[Row], outputs: list[dict[str, np.ndarray]], top_k: int = 1,
                    max_answer_len: int = 15, align_to_words: bool = True, **kwargs: Any) -> Any:
        # As transformers 4.57: per window the best top_k * 2 + 10 spans (fewer survive word alignment), each widened
        # to whole words; spans that read the same (case-insensitively) are one answer whose scores add up.
        per_window = top_k * 2 + 10 if align_to_words else top_k
        answers: dict[str, dict[str, Any]] = {}
        for row, out in zip(rows, outputs):
            first = row.extra["context_start"]
            n = len(row.input_ids) - first - 1  # context tokens in this window
            allowed = np.zeros(len(row.input_ids), bool)
            allowed[0] = True  # [CLS] stays in the softmax, as in transformers, but is never an answer
            allowed[first:first + n] = True
            start_probs = softmax(np.where(allowed, out["start_logits"], _MASKED))[first:first + n]
            end_probs = softmax(np.where(allowed, out["end_logits"], _MASKED))[first:first + n]
            scores = start_probs[:, None] * end_probs[None, :]
            valid = np.triu(np.ones_like(scores, bool)) & ~np.triu(np.ones_like(scores, bool), max_answer_len)
            scores = np.where(valid, scores, -1.0)
            for flat in np.argsort(-scores, axis=None, kind="stable")[:per_window]:
                s, e = np.unravel_index(flat, scores.shape)
                if scores[s, e] < 0:
                    break
                score = float(scores[s, e])
                s, e = row.extra["first_token"] + int(s), row.extra["first_token"] + int(e)
                if align_to_words:
                    s, e = self._word_bounds(row.extra["tokens"], s, e)
                start, end = int(row.extra["offsets"][s][0]), int(row.extra["offsets"][e][1])
                text = item["context"][start:end]
                if text.lower() in answers:
                    answers[text.lower()]["score"] += score
                else:
                    answers[text.lower()] = {"score": score, "start": start, "end": end, "answer": text}
        best = sorted(answers.values(), key=lambda a: -a["score"])[:top_k]
        return best[0] if len(best) == 1 else best
