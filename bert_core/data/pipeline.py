"""The streaming pipeline: files -> documents -> pairs -> shuffle buffer -> masked examples -> batches."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from bert_core.data.documents import (PathLike, Tokenizer, read_documents, special_token_ids, subword_table,
                                      tokenize_documents, vocab_size)
from bert_core.data.instances import Instance, iter_instances
from bert_core.data.masking import MaskingConfig, mask_tokens

Example = dict[str, np.ndarray]
FIELDS = ("input_ids", "token_type_ids", "attention_mask", "labels", "next_sentence_label")


class _Source:
    """Something that gives an iterable per epoch: a re-iterable collection, a callable, or a one-shot iterator."""

    def __init__(self, source: Any, what: str) -> None:
        self.source, self.what, self.used = source, what, False
        if not callable(source) and not isinstance(source, Iterable):
            raise TypeError(f"the {what} must be a path, an iterable or a function returning one, not "
                            f"{type(source).__name__}")
        self.one_shot = not callable(source) and iter(source) is source

    def open(self) -> Iterable[Any]:
        if callable(self.source):
            return self.source()
        if self.one_shot:
            if self.used:
                raise RuntimeError(f"the {self.what} were given as a one-shot iterator, which an earlier epoch used "
                                   f"up. Pass a list, or a function that returns a fresh iterator, to iterate again.")
            self.used = True
        return self.source


class PretrainingExamples:
    """BERT pre-training examples (masked LM + next sentence prediction) streamed from text files.

    Iterating yields dicts of int32 numpy arrays: ``input_ids``, ``token_type_ids``, ``attention_mask`` and
    ``labels`` (each ``[max_seq_length]``, labels -100 where nothing is predicted) and ``next_sentence_label``
    (a scalar, 0: B follows A, 1: B is random). ``iter(examples)`` is epoch 0; ``examples.epoch(e)`` gives epoch
    ``e``: the same pairs (unless ``static_pairs=False``) in another shuffled order with fresh masks, all fixed by
    ``(seed, epoch)``.

    Args:
        files: a path, a list of paths, a function returning an iterable of paths (called each epoch), or a one-shot
            iterator of paths (one epoch only). Files are read lazily, one line at a time.
        tokenizer: an object with ``tokenize``, ``convert_tokens_to_ids``, ``vocab`` / ``vocab_size`` and
            ``cls_token_id``, ``sep_token_id``, ``mask_token_id``, ``pad_token_id``.
        max_seq_length: length of every example, [CLS] and two [SEP] included (>= 5).
        short_seq_prob: probability that a document targets a random length in ``[2, max_seq_length - 3]``.
        nsp_probability: probability that segment B is a random segment from another document.
        masked_lm_prob: fraction of tokens to predict.
        max_predictions_per_seq: cap on the number of predicted tokens per example.
        whole_word_mask: mask the ``##`` pieces of a word together.
        document_window: documents held in memory for drawing random next segments (half read ahead).
        shuffle_buffer_size: examples held for shuffling (0: keep document order).
        max_document_sentences: longer documents are cut into pieces of this many sentences (``None``: never).
        static_pairs: draw the same pairs every epoch (only masks and order change); False draws pairs per epoch.
        seed: a non-negative integer; the same seed, epoch and input give identical examples.
        encoding: text encoding of the files.
    """

    def __init__(self, files: PathLike | Sequence[PathLike] | Iterable[PathLike] | Callable[[], Iterable[PathLike]],
                 tokenizer: Tokenizer, *, max_seq_length: int = 128, short_seq_prob: float = 0.1,
                 nsp_probability: float = 0.5, masked_lm_prob: float = 0.15, max_predictions_per_seq: int = 20,
                 whole_word_mask: bool = False, document_window: int = 1000, shuffle_buffer_size: int = 1000,
                 max_document_sentences: int | None = 10_000, static_pairs: bool = True, seed: int = 0,
                 encoding: str = "utf-8") -> None:
        if isinstance(files, (str, os.PathLike)):
            files = [files]
        self._files = _Source(files, "files") if files is not None else None
        self._documents: _Source | None = None
        self.tokenizer = tokenizer
        if max_seq_length < 5:
            raise ValueError(f"max_seq_length must be >= 5 ([CLS] A [SEP] B [SEP]), got {max_seq_length}")
        for name, p in (("short_seq_prob", short_seq_prob), ("nsp_probability", nsp_probability)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {p}")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if shuffle_buffer_size < 0:
            raise ValueError(f"shuffle_buffer_size must be >= 0, got {shuffle_buffer_size}")
        self.max_seq_length, self.short_seq_prob, self.nsp_probability = max_seq_length, short_seq_prob, nsp_probability
        self.document_window, self.shuffle_buffer_size = document_window, shuffle_buffer_size
        self.max_document_sentences, self.static_pairs, self.seed = max_document_sentences, static_pairs, seed
        self.encoding = encoding
        self.special_ids = special_token_ids(tokenizer)
        self.masking = MaskingConfig(self.special_ids["mask"], vocab_size(tokenizer), masked_lm_prob,
                                     max_predictions_per_seq, subword_table(tokenizer) if whole_word_mask else None)
        self._never_mask = np.array(sorted(set(self.special_ids.values())), dtype=np.int32)

    @classmethod
    def from_documents(cls, documents: Iterable[Sequence[str]] | Callable[[], Iterable[Sequence[str]]],
                       tokenizer: Tokenizer, **kwargs: Any) -> PretrainingExamples:
        """Examples from documents given directly, each a sequence of sentences (same rules as ``files``)."""
        examples = cls(None, tokenizer, **kwargs)  # type: ignore[arg-type]
        examples._documents = _Source(documents, "documents")
        return examples

    def __repr__(self) -> str:
        return (f"PretrainingExamples(max_seq_length={self.max_seq_length}, short_seq_prob={self.short_seq_prob}, "
                f"nsp_probability={self.nsp_probability}, masking={self.masking!r}, document_window="
                f"{self.document_window}, shuffle_buffer_size={self.shuffle_buffer_size}, seed={self.seed})")

    def __iter__(self) -> Iterator[Example]:
        return self.epoch(0)

    def _rng(self, stream: int, epoch: int | None) -> np.random.Generator:
        key = [self.seed, stream] if epoch is None else [self.seed, stream, epoch]
        return np.random.default_rng(np.random.SeedSequence(key))

    def instances(self, epoch: int = 0) -> Iterator[Instance]:
        """The unmasked pairs of ``epoch``, in document order."""
        if self._documents is not None:
            sentences = self._documents.open()
        elif self._files is None:
            raise ValueError("no input: pass files to PretrainingExamples, or use PretrainingExamples.from_documents")
        else:
            sentences = read_documents(self._files.open(), max_document_sentences=self.max_document_sentences,
                                       encoding=self.encoding)
        return iter_instances(tokenize_documents(sentences, self.tokenizer),
                              self._rng(0, None if self.static_pairs else epoch),
                              max_num_tokens=self.max_seq_length - 3, short_seq_prob=self.short_seq_prob,
                              nsp_probability=self.nsp_probability, window=self.document_window)

    def epoch(self, epoch: int) -> Iterator[Example]:
        """The examples of ``epoch``: shuffled (within the buffer) and freshly masked, fixed by (seed, epoch)."""
        instances = shuffled(self.instances(epoch), self.shuffle_buffer_size, self._rng(1, epoch))
        mask_rng = self._rng(2, epoch)
        for instance in instances:
            yield self.make_example(instance, mask_rng)

    def make_example(self, instance: Instance, rng: np.random.Generator) -> Example:
        """``[CLS] A [SEP] B [SEP]`` padded to ``max_seq_length``, masked with ``rng``."""
        a, b, length = instance.tokens_a, instance.tokens_b, self.max_seq_length
        la, lb = len(a), len(b)
        n = la + lb + 3
        if n > length:
            raise ValueError(f"a pair of {la} + {lb} tokens does not fit max_seq_length={length}")
        input_ids = np.full(length, self.special_ids["pad"], dtype=np.int32)
        input_ids[0] = self.special_ids["cls"]
        input_ids[1:1 + la] = a
        input_ids[1 + la] = input_ids[n - 1] = self.special_ids["sep"]
        input_ids[2 + la:n - 1] = b
        token_type_ids = np.zeros(length, dtype=np.int32)
        token_type_ids[2 + la:n] = 1
        attention_mask = np.zeros(length, dtype=np.int32)
        attention_mask[:n] = 1
        special = np.isin(input_ids, self._never_mask)
        special[[0, 1 + la, n - 1]] = True
        special[n:] = True
        masked, labels = mask_tokens(input_ids, special, n, self.masking, rng)
        return {"input_ids": masked, "token_type_ids": token_type_ids, "attention_mask": attention_mask,
                "labels": labels, "next_sentence_label": np.array(int(instance.is_random_next), dtype=np.int32)}


def create_pretraining_examples(files: Any, tokenizer: Tokenizer, *, epoch: int = 0,
                                **kwargs: Any) -> Iterator[Example]:
    """Shorthand for ``PretrainingExamples(files, tokenizer, **kwargs).epoch(epoch)``."""
    return PretrainingExamples(files, tokenizer, **kwargs).epoch(epoch)


def shuffled(items: Iterable[Any], buffer_size: int, rng: np.random.Generator) -> Iterator[Any]:
    """Shuffle a stream through a buffer of ``buffer_size`` items (0 or 1: unchanged order).

    Each incoming item replaces a randomly chosen buffered one, which is yielded; the rest come out in random order
    at the end.
    """
    if buffer_size <= 1:
        yield from items
        return
    buffer: list[Any] = []
    for item in items:
        if len(buffer) < buffer_size:
            buffer.append(item)
            continue
        j = int(rng.integers(0, buffer_size))
        yield buffer[j]
        buffer[j] = item
    for j in rng.permutation(len(buffer)):
        yield buffer[j]


def batches(examples: Iterable[Example], batch_size: int, *, drop_remainder: bool = False) -> Iterator[Example]:
    """Stack consecutive examples into batches: each field becomes a ``[batch, ...]`` numpy array.

    The last, smaller batch is yielded unless ``drop_remainder`` is set.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    pending: list[Example] = []
    for example in examples:
        pending.append(example)
        if len(pending) == batch_size:
            yield _stack(pending)
            pending = []
    if pending and not drop_remainder:
        yield _stack(pending)


def _stack(examples: list[Example]) -> Example:
    return {key: np.stack([e[key] for e in examples]) for key in examples[0]}
