"""Sentence pairs for next-sentence prediction, as Google's ``create_pretraining_data.py`` builds them.

For each document, segments (sentences) are gathered into a chunk until it reaches a target length; the chunk is
split at a random point into A and B. With probability ``nsp_probability`` (and always when the chunk has a single
segment) B is replaced by a run of sentences from another document, starting at a random sentence, and the
chunk's unused segments are put back to start the next chunk. The pair is then truncated to ``max_num_tokens``.

Streaming: instead of Google's whole-corpus list, the other document is drawn from a bounded window of
``window`` documents around the current one (about half already processed, half read ahead), so memory holds at
most ``window`` tokenized documents however large the corpus is.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from bert_core.data.documents import TokenizedDocument


@dataclass(frozen=True)
class Instance:
    """An unmasked pair: token ids of segment A and B (int32) and whether B is a random segment."""

    tokens_a: np.ndarray
    tokens_b: np.ndarray
    is_random_next: bool

    def __repr__(self) -> str:
        return f"Instance(len_a={len(self.tokens_a)}, len_b={len(self.tokens_b)}, is_random_next={self.is_random_next})"


def truncated_lengths(len_a: int, len_b: int, max_num_tokens: int) -> tuple[int, int]:
    """Lengths Google's ``truncate_seq_pair`` leaves: it removes one token at a time from the longer side (B on ties).

    Computed in closed form, so a very long sentence costs nothing.
    """
    if len_a + len_b <= max_num_tokens:
        return len_a, len_b
    if len_a > len_b:
        len_a = max(len_b, max_num_tokens - len_b)
    elif len_b > len_a:
        len_b = max(len_a, max_num_tokens - len_a)
    if len_a + len_b <= max_num_tokens:
        return len_a, len_b
    # Both sides are now equal and too long: removal alternates, B first.
    return max_num_tokens - max_num_tokens // 2, max_num_tokens // 2


def truncate_seq_pair(tokens_a: np.ndarray, tokens_b: np.ndarray, max_num_tokens: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Truncate a pair to at most ``max_num_tokens`` tokens in all, as Google's ``truncate_seq_pair`` does.

    Tokens are removed from the longer side; each removal takes the front or the back with probability 1/2, so the
    number taken from the front of a side is Binomial(removed, 1/2), drawn once.
    """
    new_a, new_b = truncated_lengths(len(tokens_a), len(tokens_b), max_num_tokens)
    return _cut(tokens_a, new_a, rng), _cut(tokens_b, new_b, rng)


def _cut(tokens: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    removed = len(tokens) - length
    if removed == 0:
        return tokens
    front = int(rng.binomial(removed, 0.5))
    return tokens[front:front + length]


def instances_from_document(window: list[TokenizedDocument], index: int, rng: np.random.Generator, *,
                            max_num_tokens: int, short_seq_prob: float,
                            nsp_probability: float) -> Iterator[Instance]:
    """The pairs of ``window[index]``; random next segments come from the other documents of ``window``.

    With a single-document window, the random segment comes from the same document (as in Google's script when
    its ten tries to find another document fail).
    """
    document = window[index]
    bounds = document.bounds
    n = len(document)
    target = max_num_tokens
    if rng.random() < short_seq_prob:
        target = int(rng.integers(2, max_num_tokens + 1))
    start = 0  # first sentence of the current chunk
    i = 0
    while i < n:
        if i == n - 1 or bounds[i + 1] - bounds[start] >= target:
            size = i - start + 1
            a_end = start + (int(rng.integers(1, size)) if size >= 2 else 1)
            tokens_a = document.ids[bounds[start]:bounds[a_end]]
            if size == 1 or rng.random() < nsp_probability:
                is_random_next = True
                tokens_b = _random_segment(window, index, rng, target - len(tokens_a))
                i = a_end - 1  # put the unused segments back
            else:
                is_random_next = False
                tokens_b = document.ids[bounds[a_end]:bounds[i + 1]]
            tokens_a, tokens_b = truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)
            yield Instance(tokens_a, tokens_b, is_random_next)
            start = i + 1
        i += 1


def _random_segment(window: list[TokenizedDocument], index: int, rng: np.random.Generator,
                    target_length: int) -> np.ndarray:
    """Sentences of another document from a random start until ``target_length`` tokens (at least one sentence)."""
    if len(window) > 1:
        other = int(rng.integers(0, len(window) - 1))
        other += other >= index
    else:
        other = index
    document = window[other]
    bounds = document.bounds
    first = int(rng.integers(0, len(document)))
    end = int(np.searchsorted(bounds, bounds[first] + target_length, side="left"))
    end = min(max(end, first + 1), len(document))
    return document.ids[bounds[first]:bounds[end]]


def iter_instances(documents: Iterable[TokenizedDocument], rng: np.random.Generator, *, max_num_tokens: int,
                   short_seq_prob: float = 0.1, nsp_probability: float = 0.5,
                   window: int = 1000) -> Iterator[Instance]:
    """Stream the pairs of ``documents`` in order, holding at most ``window`` documents.

    A document is processed once ``window // 2`` documents after it have been read (or the input has ended); the
    window also keeps up to ``window - window // 2 - 1`` documents before it. Random next segments come from the
    window's other documents.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if max_num_tokens < 2:
        raise ValueError(f"max_num_tokens must be >= 2 (max_seq_length >= 5), got {max_num_tokens}")
    ahead = window // 2
    buffer: deque[TokenizedDocument] = deque()
    current = 0  # index in buffer of the next document to process
    kwargs = dict(max_num_tokens=max_num_tokens, short_seq_prob=short_seq_prob, nsp_probability=nsp_probability)
    for document in documents:
        if len(buffer) == window:
            buffer.popleft()  # always an already processed document, as at most `ahead` < window are pending
            current -= 1
        buffer.append(document)
        if len(buffer) - 1 - current >= ahead:
            yield from instances_from_document(list(buffer), current, rng, **kwargs)
            current += 1
    docs = list(buffer)
    while current < len(docs):
        yield from instances_from_document(docs, current, rng, **kwargs)
        current += 1
