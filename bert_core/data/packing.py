"""Sequence packing for pre-training: several short MLM + NSP examples share one row of ``max_seq_length``.

Padding is wasted compute: with a realistic length distribution (documents end, 10% short targets, random next
segments) a large share of every ``[batch, max_seq_length]`` batch is padding (about 40% at length 512 on prose).
Packing (Krell et al., "Efficient sequence packing without cross-contamination", 2021) puts up to
``max_per_row`` examples into each row, and keeps them apart:

- attention is block diagonal: a token attends only to the tokens of its own example. The mask is derived from
  ``example_ids`` (``attention_mask_from_example_ids``; padding attends only to padding);
- ``position_ids`` restart at 0 for every example, ``token_type_ids`` are each example's own (0 for A, 1 for B);
- masked-LM labels stay per token (-100 elsewhere): the loss is the mean over the labelled tokens of the batch,
  as unpacked;
- next-sentence prediction runs once per example, on the pooler applied at that example's [CLS]
  (``cls_positions``), its loss averaged over the real examples (``next_sentence_label`` -100 in empty slots).

So a packed batch gives the same loss and gradients as the same examples unpacked. A packed row is a dict of
int32 arrays (``PACKED_FIELDS``)::

    input_ids, token_type_ids, position_ids, example_ids, labels   [max_seq_length]
    next_sentence_label, cls_positions                             [max_per_row]

``example_ids`` is 1..n for the row's n examples and 0 for padding. Rows are made by best-fit decreasing over a
buffer of ``buffer_size`` examples (each example goes to the open row with the least room that fits it; longest
first), which leaves well under 5% padding; rows then leave in a random order.

Note: a packed batch of ``batch_size`` rows holds more examples (about 1.7x at length 512 on prose) than an
unpacked one, so a step sees more tokens; scale the learning rate or the steps as the packing paper does.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from bert_core.data.masking import IGNORE_INDEX
from bert_core.data.pipeline import Example, batches

PACKED_FIELDS = ("input_ids", "token_type_ids", "position_ids", "example_ids", "labels", "next_sentence_label",
                 "cls_positions")
MAX_PER_ROW = 3


def example_length(example: Example) -> int:
    """Real tokens of an unpacked example ([CLS] and [SEP] included): its ``attention_mask`` sum."""
    return int(np.count_nonzero(example["attention_mask"]))


def pack_lengths(lengths: Sequence[int], max_seq_length: int, max_per_row: int = MAX_PER_ROW) -> list[list[int]]:
    """Best-fit decreasing: the indexes of ``lengths`` grouped into rows of at most ``max_seq_length`` tokens and
    ``max_per_row`` items. Longest first, each into the open row with the smallest room that fits it (a new row
    when none does). Deterministic: ties keep index order."""
    if max_per_row < 1:
        raise ValueError(f"max_per_row must be >= 1, got {max_per_row}")
    rows: list[list[int]] = []
    room: list[int] = []
    open_rows: dict[int, list[int]] = {}  # room left -> rows with that room and space for another item
    sizes: list[int] = []  # sorted keys of open_rows with a non-empty list
    for i in sorted(range(len(lengths)), key=lambda j: (-lengths[j], j)):
        n = int(lengths[i])
        if not 0 < n <= max_seq_length:
            raise ValueError(f"an example of {n} tokens cannot be packed into rows of {max_seq_length}")
        k = bisect.bisect_left(sizes, n)
        if k < len(sizes):
            bucket = open_rows[sizes[k]]
            row = bucket.pop(0)
            if not bucket:
                del open_rows[sizes[k]]
                sizes.pop(k)
        else:
            row = len(rows)
            rows.append([])
            room.append(max_seq_length)
        rows[row].append(i)
        room[row] -= n
        if len(rows[row]) < max_per_row and room[row] > 0:
            if room[row] not in open_rows:
                open_rows[room[row]] = []
                bisect.insort(sizes, room[row])
            open_rows[room[row]].append(row)
    return rows


def pack_row(examples: Sequence[Example], max_seq_length: int, max_per_row: int = MAX_PER_ROW,
             pad_token_id: int = 0) -> Example:
    """One packed row (``PACKED_FIELDS``) from unpacked examples (``bert_core.data.PretrainingExamples``'
    dicts: real tokens first, then padding), in the given order."""
    if not 0 < len(examples) <= max_per_row:
        raise ValueError(f"a row holds 1 to {max_per_row} examples, got {len(examples)}")
    row = {"input_ids": np.full(max_seq_length, pad_token_id, np.int32),
           "token_type_ids": np.zeros(max_seq_length, np.int32),
           "position_ids": np.zeros(max_seq_length, np.int32),
           "example_ids": np.zeros(max_seq_length, np.int32),
           "labels": np.full(max_seq_length, IGNORE_INDEX, np.int32),
           "next_sentence_label": np.full(max_per_row, IGNORE_INDEX, np.int32),
           "cls_positions": np.zeros(max_per_row, np.int32)}
    at = 0
    for j, example in enumerate(examples):
        n = example_length(example)
        if at + n > max_seq_length:
            raise ValueError(f"examples of {at} + {n} tokens exceed max_seq_length={max_seq_length}")
        part = slice(at, at + n)
        for key in ("input_ids", "token_type_ids", "labels"):
            row[key][part] = example[key][:n]
        row["position_ids"][part] = np.arange(n, dtype=np.int32)
        row["example_ids"][part] = j + 1
        row["next_sentence_label"][j] = int(example["next_sentence_label"])
        row["cls_positions"][j] = at
        at += n
    return row


def pack_examples(examples: Iterable[Example], max_seq_length: int, *, max_per_row: int = MAX_PER_ROW,
                  buffer_size: int = 1000, rng: np.random.Generator | None = None,
                  pad_token_id: int = 0) -> Iterator[Example]:
    """Stream packed rows: every ``buffer_size`` examples are packed together (``pack_lengths``) and their rows
    yielded in a random order (``rng``; None: the packing order). Each example lands in exactly one row."""
    if buffer_size < 1:
        raise ValueError(f"buffer_size must be >= 1, got {buffer_size}")
    pending: list[Example] = []
    for example in examples:
        pending.append(example)
        if len(pending) == buffer_size:
            yield from _pack_buffer(pending, max_seq_length, max_per_row, rng, pad_token_id)
            pending = []
    if pending:
        yield from _pack_buffer(pending, max_seq_length, max_per_row, rng, pad_token_id)


def _pack_buffer(pending: list[Example], max_seq_length: int, max_per_row: int, rng: np.random.Generator | None,
                 pad_token_id: int) -> Iterator[Example]:
    rows = pack_lengths([example_length(e) for e in pending], max_seq_length, max_per_row)
    order = rng.permutation(len(rows)) if rng is not None else range(len(rows))
    for r in order:
        yield pack_row([pending[i] for i in rows[r]], max_seq_length, max_per_row, pad_token_id)


def packed_batches(examples: Iterable[Example], batch_size: int, max_seq_length: int, *,
                   max_per_row: int = MAX_PER_ROW, buffer_size: int = 1000, seed: int | Sequence[int] = 0,
                   pad_token_id: int = 0, drop_remainder: bool = True) -> Iterator[Example]:
    """Batches of ``batch_size`` packed rows (each field ``[batch_size, ...]``) from unpacked examples."""
    rng = np.random.default_rng(seed)
    rows = pack_examples(examples, max_seq_length, max_per_row=max_per_row, buffer_size=buffer_size, rng=rng,
                         pad_token_id=pad_token_id)
    return batches(rows, batch_size, drop_remainder=drop_remainder)


def attention_mask_from_example_ids(example_ids: np.ndarray) -> np.ndarray:
    """The block-diagonal ``[batch, seq, seq]`` bool mask: True where query and key belong to the same example
    (padding, id 0, attends only to padding, so no row is empty). Trainers build the same in their framework."""
    ids = np.asarray(example_ids)
    return ids[..., :, None] == ids[..., None, :]


def unpacked_tokens(batch: Example) -> int:
    """Real (non-padding) tokens of a batch, packed (``example_ids``) or not (``attention_mask``)."""
    key = "example_ids" if "example_ids" in batch else "attention_mask"
    return int(np.count_nonzero(batch[key]))
