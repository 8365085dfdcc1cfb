"""Sequence packing: run a list of sequences of different lengths without computing on padding.

Several sequences share one row of ``row_length`` tokens; ``segment_ids`` (1, 2, ... per sequence, 0 on the
row's padding tail) make the attention block-diagonal, position ids restart at 0 in each segment and every segment
keeps its own token types, so each sequence's outputs equal those of the padded batch on its real tokens.

Rows and their count come from small bucket tables (``ROW_LENGTHS`` x ``ROW_COUNTS``), chosen per batch by a FLOP
model, so jit compiles a handful of shapes, not one per batch. ``packed_forward`` returns one dict per sequence:
token outputs trimmed to the sequence (``[n, ...]``), ``pooler_output`` from the segment's first token, the layout
``bertzoo.pipelines``' ``forward`` returns.
"""

from __future__ import annotations

import dataclasses
import weakref
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from bert_core.checks import check_model_inputs
from bert_flax.layers import BertPooler

ROW_LENGTHS = (32, 48, 64, 80, 96, 112, 128, 144, 160, 192, 224, 256, 320, 384, 448, 512)
ROW_COUNTS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
ATTENTION_WEIGHT = 6.0  # measured: on CPU the [q, k] softmax makes attention cost ~6x its matmul FLOPs
REUSE_SLACK = 0.15  # take an already compiled shape when it costs at most this much more than the best
TOKEN_HEADS = ("BertModel", "BertForMaskedLM", "BertForTokenClassification", "BertForQuestionAnswering")


@dataclasses.dataclass(frozen=True)
class Packed:
    """``[rows, row_length]`` int32 arrays and, per sequence, ``placements[i] = (row, start, length)``."""

    input_ids: np.ndarray
    token_type_ids: np.ndarray
    position_ids: np.ndarray
    segment_ids: np.ndarray
    placements: np.ndarray

    def __repr__(self) -> str:
        rows, length = self.input_ids.shape
        real = int(self.placements[:, 2].sum())
        return f"Packed({len(self.placements)} sequences in {rows} rows x {length}, {real / (rows * length):.0%} real)"

    def unpack(self, per_token: np.ndarray) -> list[np.ndarray]:
        """``[rows, row_length, ...]`` -> one ``[length_i, ...]`` array per sequence, in input order."""
        return [per_token[r, s:s + n] for r, s, n in self.placements]


def _first_fit_decreasing(lengths: Sequence[int], row_length: int) -> list[list[int]]:
    """Sequence indices per row: longest first, each into the first row with room."""
    rows: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        j = next((j for j, r in enumerate(room) if r >= lengths[i]), None)
        if j is None:
            rows.append([])
            room.append(row_length)
            j = len(rows) - 1
        rows[j].append(i)
        room[j] -= lengths[i]
    return rows


def _cost(rows: int, length: int, hidden: int, intermediate: int) -> float:
    """Relative encoder cost per layer: projections + feed-forward per token, attention (weighted) per row."""
    return rows * length * (4 * hidden * hidden + 2 * hidden * intermediate + ATTENTION_WEIGHT * 2 * length * hidden)


def plan(lengths: Sequence[int], hidden: int = 768, intermediate: int = 3072,
         row_lengths: Sequence[int] = ROW_LENGTHS, row_counts: Sequence[int] = ROW_COUNTS,
         max_row_length: int | None = None, known: Any = ()) -> tuple[int, int, list[list[int]]]:
    """The cheapest ``(rows, row_length, sequence indices per row)`` over the bucket tables; a ``known``
    ``(rows, row_length)`` (already compiled) wins when it costs at most ``REUSE_SLACK`` more."""
    longest = max(lengths)
    best, reuse = None, None
    for length in sorted(row_lengths):
        if length < longest or (max_row_length is not None and length > max_row_length):
            continue
        rows = _first_fit_decreasing(lengths, length)
        count = next((c for c in sorted(row_counts) if c >= len(rows)), len(rows))
        cost = _cost(count, length, hidden, intermediate)
        if best is None or cost < best[0]:
            best = (cost, count, length, rows)
        if (count, length) in known and (reuse is None or cost < reuse[0]):
            reuse = (cost, count, length, rows)
    if best is not None and reuse is not None and reuse[0] <= best[0] * (1 + REUSE_SLACK):
        best = reuse
    if best is None:
        raise ValueError(f"a sequence has {longest} tokens but the longest row length allowed is "
                         f"{min(max(row_lengths), max_row_length or max(row_lengths))}; truncate it or raise "
                         "max_row_length / add a larger entry to row_lengths.")
    return best[1], best[2], best[3]


def pack(input_ids: Sequence[Sequence[int]], token_type_ids: Sequence[Sequence[int]] | None = None,
         pad_token_id: int = 0, **plan_kwargs: Any) -> Packed:
    """Pack sequences of token ids (and their token types, default 0) into bucketed rows."""
    if len(input_ids) == 0:
        raise ValueError("pack() got no sequences; give a non-empty list of token id lists.")
    lengths = [len(s) for s in input_ids]
    if min(lengths) == 0:
        raise ValueError(f"sequence {lengths.index(0)} is empty; every sequence needs at least one token.")
    if token_type_ids is not None:
        bad = [i for i, (a, b) in enumerate(zip(input_ids, token_type_ids)) if len(a) != len(b)]
        if len(token_type_ids) != len(input_ids) or bad:
            raise ValueError(f"token_type_ids must match input_ids sequence by sequence (first mismatch: "
                             f"{bad[0] if bad else len(token_type_ids)}).")
    count, length, rows = plan(lengths, **plan_kwargs)
    ids = np.full((count, length), pad_token_id, np.int32)
    types, positions, segments = (np.zeros((count, length), np.int32) for _ in range(3))
    placements = np.zeros((len(lengths), 3), np.int64)
    for r, members in enumerate(rows):
        start = 0
        for k, i in enumerate(members):
            n = lengths[i]
            ids[r, start:start + n] = input_ids[i]
            if token_type_ids is not None:
                types[r, start:start + n] = token_type_ids[i]
            positions[r, start:start + n] = np.arange(n)
            segments[r, start:start + n] = k + 1
            placements[i] = (r, start, n)
            start += n
    return Packed(ids, types, positions, segments, placements)


def segment_mask(segment_ids: Any) -> Any:
    """``[rows, L, L]`` block-diagonal mask: a token sees the tokens of its own segment. Padding (segment 0) sees
    only padding, so no softmax row is all masked and no NaN can reach a real token through a zero weight."""
    return (segment_ids[:, :, None] == segment_ids[:, None, :]).astype(jnp.int32)


_COMPILED: "weakref.WeakKeyDictionary[Any, tuple[Any, Any, set]]" = weakref.WeakKeyDictionary()


def _compiled(model: Any):
    """``(jitted packed forward, set of (rows, row_length) it was called with)`` of ``model``; rebuilt when its
    module changes (e.g. gradient checkpointing)."""
    module, head, config = model.module, model.head, model.config
    cached = _COMPILED.get(model)
    if cached is not None and cached[0] is module:
        return cached[1], cached[2]

    def run(params, ids, types, positions, segments):
        out = module.apply({"params": params}, ids, segment_mask(segments), types, positions)
        out = {k: v for k, v in out.items() if v is not None and k in ("last_hidden_state", "logits",
                                                                         "start_logits", "end_logits")}
        if head == "BertModel" and getattr(module, "add_pooling_layer", False):
            hidden = out["last_hidden_state"]
            rows, length, width = hidden.shape  # the pooler on every token: < 1% of the encoder's work
            pooler = BertPooler(config, module.dtype, module.param_dtype)
            out["pooler_output"] = pooler.apply({"params": params["pooler"]},
                                                hidden.reshape(rows * length, 1, width)).reshape(hidden.shape)
        return out

    fn = jax.jit(run)
    _COMPILED[model] = (module, fn, set())
    return fn, _COMPILED[model][2]


def packed_forward(model: Any, input_ids: Sequence[Sequence[int]],
                   token_type_ids: Sequence[Sequence[int]] | None = None, params: dict | None = None,
                   pad_token_id: int | None = None, **plan_kwargs: Any) -> list[dict[str, np.ndarray]]:
    """Outputs of ``model`` (a ``FlaxBertModel`` or a per-token head) for each sequence, computed packed.

    Returns, per sequence in input order, ``{"last_hidden_state": [n, hidden], "pooler_output": [hidden]}`` for
    ``FlaxBertModel`` (``logits`` / ``start_logits`` / ``end_logits`` ``[n, ...]`` for the heads), equal to the
    padded batch's outputs on the sequence's tokens.
    """
    if model.head not in TOKEN_HEADS:
        raise ValueError(f"packed_forward runs {', '.join(TOKEN_HEADS)}; {model.head}'s outputs are pooled per row "
                         "and a packed row holds several sequences. Call the model on a padded batch instead.")
    cfg = model.config
    pad = pad_token_id if pad_token_id is not None else (cfg.pad_token_id or 0)
    plan_kwargs.setdefault("hidden", cfg.hidden_size)
    plan_kwargs.setdefault("intermediate", cfg.intermediate_size)
    plan_kwargs.setdefault("max_row_length", max(ROW_LENGTHS + (cfg.max_position_embeddings,)))
    fn, shapes = _compiled(model)
    plan_kwargs.setdefault("known", shapes)
    packed = pack(input_ids, token_type_ids, pad_token_id=pad, **plan_kwargs)
    check_model_inputs(cfg, packed.input_ids, packed.token_type_ids, packed.position_ids,
                       seq_len=int(packed.placements[:, 2].max()))
    shapes.add(packed.input_ids.shape)
    out = fn(model.params if params is None else params, packed.input_ids, packed.token_type_ids,
             packed.position_ids, packed.segment_ids)
    out = {k: np.asarray(v) for k, v in out.items()}
    results: list[dict[str, np.ndarray]] = [{} for _ in packed.placements]
    for name, value in out.items():
        for i, piece in enumerate(packed.unpack(value)):
            results[i][name] = piece[0] if name == "pooler_output" else piece
    return results
